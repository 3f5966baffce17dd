"""Docs tables for the ingest benchmarks that have outgrown ``tables.py``."""

from __future__ import annotations

from typing import Any

from benchmarks.tables import run_figures


def join_spill(doc: dict[str, Any]) -> str:
    """``ingest-join-spill.json``: peak memory of one chunk's join, reference held or streamed."""
    rows = []
    for v in doc["variants"].values():
        group = v["largest_row_group_mib"]
        rows.append(
            f"| {v['reference']} | {'-' if group is None else f'{group:.1f} MiB'} | {v['join']} "
            f"| {v['median_peak_rss_mib']:.0f} MiB | {v['median_seconds']:.2f} s |"
        )
    m = doc["machine"]
    command = f"python benchmarks/ingest_join_spill.py --rows {doc['reference_rows']}"
    return (
        f"| reference table ({doc['reference_rows']:,} rows, about "
        f"{doc['reference_in_memory_mib']:.0f} MiB in memory) | largest row group | join "
        "| peak RSS (median) | join time (median) |\n"
        "|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"""

One chunk of {doc["chunk_rows"]:,} rows (about 2 MiB, a 16 MiB budget's chunk) joined `left` with
the reference; `held` reads the whole table first (what a budgeted run does today), `streaming`
runs the join in Polars' streaming engine over a lazy scan of the file. Each run is a fresh
interpreter; its peak includes Python and Polars (the footprint row: a 1,000-row reference). Polars
{doc["polars"]}, {doc["repeat"]} rotating rounds; {m["cpus"]} cores, Python {m["python"]}, load
average {m["load_average_at_start"]:.1f} at the start and {m["load_average_at_end"]:.1f} at the end.
Command: `{command} --repeat {doc["repeat"]}`.
"""
    )


LABELS = {
    "lockgate": "**lockgate ingest**",
    "adbc_polars": "ADBC `fetch_arrow_table` + Polars Parquet",
    "connectorx_polars": "connectorx `read_sql` + Parquet",
    "copy_polars": "text `COPY` piped into `polars.read_csv` + Parquet (the text path's limit)",
    "copy_binary_rows": "binary `COPY` decoded row by row into Polars",
    "pandas_read_sql": "`pandas.read_sql` + `to_parquet`",
}


def postgres(doc: dict[str, Any]) -> str:
    """``ingest.json`` / ``ingest-10m.json``: PostgreSQL to Parquet, every method side by side."""
    med, cpu, peak = doc["median_seconds"], doc["median_cpu_seconds"], doc["peak_rss_mib"]
    lines = [
        "| method | median s | rows/s | client CPU s | server CPU s | peak RSS MiB "
        "| its time / lockgate's | raw s |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for method in sorted(med, key=med.__getitem__):
        ratio = "—" if method == "lockgate" else f"{med[method] / med['lockgate']:.2f}x"
        raw = ", ".join(_seconds(r["seconds"]) for r in doc["runs"][method])
        rate = doc["rows"] / med[method]
        lines.append(
            f"| {LABELS.get(method, method)} | {_seconds(med[method])} | {rate:,.0f} "
            f"| {cpu[method]['client']:.1f} | {cpu[method]['server']:.1f} | {peak[method]:,.0f} "
            f"| {ratio} | {raw} |"
        )
    m = doc["machine"]
    skipped = ", ".join(LABELS.get(s, s) for s in doc.get("skipped", [])) or "none"
    command = doc.get("command", "python benchmarks/ingest.py")
    cpu_model = f"{m['cpu']}, " if m.get("cpu") else ""
    codec = (
        f"; every Polars write (lockgate's too) zstd level {doc['zstd_level']}, pandas' snappy"
        if "zstd_level" in doc
        else ""
    )
    return (
        "\n".join(lines)
        + f"\n\n{doc['rows']:,} rows x {doc['columns']} columns{codec}; {doc['repeat']} rotating "
        f"rounds, medians (peak RSS: the largest); {cpu_model}{m['cpus']} cores, Python "
        f"{m['python']}, load average "
        f"{m['load_average_at_start']:.1f} at the start and {m['load_average_at_end']:.1f} at the "
        f"end. Not run: {skipped}. Command: `{command}`.\n"
    )


def postgres_figures(doc: dict[str, Any]) -> dict[str, str]:
    """``ingest.json`` / ``ingest-10m.json``, as the prose under the table quotes it. Per method
    (the keys of the table's labels: ``lockgate``, ``pandas_read_sql``...): its median
    (``pandas_read_sql_seconds``), its time over lockgate's (``pandas_read_sql_ratio``), the
    client's and the server's CPU (``lockgate_client_cpu``, ``lockgate_server_cpu``), its peak in
    MiB and GiB (``lockgate_peak``, ``lockgate_peak_gib``). The drivers' peaks, lowest to highest
    (``drivers_peak``, in MiB with no unit, and ``drivers_peak_gib``). lockgate's wall-time floor,
    its client and server CPU together shared by the machine's cores (``lockgate_wall_floor``),
    and pandas' time over that floor: the best ratio lockgate could reach
    (``pandas_read_sql_ratio_at_most``)."""
    med, cpu, peak = doc["median_seconds"], doc["median_cpu_seconds"], doc["peak_rss_mib"]
    figures = run_figures(doc)
    for method in med:
        figures |= {
            f"{method}_seconds": f"{med[method]:.2f} s",
            f"{method}_ratio": f"{med[method] / med['lockgate']:.2f}x",
            f"{method}_client_cpu": f"{cpu[method]['client']:.2f} s",
            f"{method}_server_cpu": f"{cpu[method]['server']:.2f} s",
            f"{method}_peak": f"{peak[method]:,.0f} MiB",
            f"{method}_peak_gib": f"{peak[method] / 1024:.1f} GiB",
        }
    drivers = sorted(peak[m] for m in ("adbc_polars", "connectorx_polars") if m in peak)
    if drivers:
        figures["drivers_peak"] = f"{drivers[0]:,.0f}-{drivers[-1]:,.0f}"
        figures["drivers_peak_gib"] = f"{drivers[0] / 1024:.1f}-{drivers[-1] / 1024:.1f} GiB"
    floor = (cpu["lockgate"]["client"] + cpu["lockgate"]["server"]) / doc["machine"]["cpus"]
    figures["lockgate_wall_floor"] = f"{floor:.2f} s"
    if "pandas_read_sql" in med:
        figures["pandas_read_sql_ratio_at_most"] = f"{med['pandas_read_sql'] / floor:.2f}x"
    return figures


def _seconds(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


SPLIT_STEPS = {
    "adbc_read": "read through ADBC (binary `COPY` into Arrow), what lockgate reads with",
    "pandas_read_sql": "read with `pandas.read_sql` through SQLAlchemy",
    "polars_write_zstd": "Polars Parquet write, zstd level 3 (Polars' default)",
    "polars_write_zstd_level1": "Polars Parquet write, zstd level 1 (lockgate's default)",
    "polars_write_lz4": "Polars Parquet write, lz4",
    "polars_write_snappy": "Polars Parquet write, snappy",
    "polars_write_uncompressed": "Polars Parquet write, uncompressed",
    "pandas_to_parquet_snappy": "`pandas.to_parquet` (pyarrow, snappy)",
}


def cpu_split(doc: dict[str, Any]) -> str:
    """``ingest-cpu-split.json``: the client's CPU per step, reads apart from writes."""
    cpu, wall = doc["median_cpu_seconds"], doc["median_seconds"]
    sizes = doc.get("bytes", {})
    lines = [
        "| step, in one process | CPU s (median) | wall s (median) | file MiB |",
        "|---|---:|---:|---:|",
    ]
    for step, label in SPLIT_STEPS.items():
        if step in cpu:
            size = f"{sizes[step] / 2**20:.1f}" if step in sizes else "—"
            lines.append(f"| {label} | {cpu[step]:.2f} | {wall[step]:.2f} | {size} |")
    m = doc["machine"]
    return (
        "\n".join(lines)
        + f"\n\n{doc['rows']:,} rows x {doc['columns']} columns, {doc['repeat']} rounds; CPU "
        f"seconds of the process (all its threads). {m.get('cpu', '')}, {m['cpus']} cores, Python "
        f"{m.get('python', '')}; load average {m['load_average_at_start']:.1f} at the start and "
        f"{m['load_average_at_end']:.1f} at the end. Command: "
        f"`python benchmarks/ingest_split.py --rows {doc['rows']} --repeat {doc['repeat']}`.\n"
    )


def cpu_split_figures(doc: dict[str, Any]) -> dict[str, str]:
    """``ingest-cpu-split.json``, as the prose quotes it: each step's CPU seconds
    (``adbc_read_cpu``; to a tenth of a second, ``adbc_read_cpu_tenths``) and the size of the
    file it wrote in MiB, with no unit (``polars_write_zstd_mib``)."""
    figures = run_figures(doc)
    for step, seconds in doc["median_cpu_seconds"].items():
        figures[f"{step}_cpu"] = f"{seconds:.2f} s"
        figures[f"{step}_cpu_tenths"] = f"{seconds:.1f} s"
    for step, size in doc.get("bytes", {}).items():
        figures[f"{step}_mib"] = f"{size / 2**20:.1f}"
    return figures
