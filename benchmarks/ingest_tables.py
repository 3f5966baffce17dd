"""Docs tables for the ingest benchmarks that have outgrown ``tables.py``."""

from __future__ import annotations

from typing import Any


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
        raw = ", ".join(f"{r['seconds']:.1f}" for r in doc["runs"][method])
        rate = doc["rows"] / med[method]
        lines.append(
            f"| {LABELS.get(method, method)} | {med[method]:.1f} | {rate:,.0f} "
            f"| {cpu[method]['client']:.1f} | {cpu[method]['server']:.1f} | {peak[method]:,.0f} "
            f"| {ratio} | {raw} |"
        )
    m = doc["machine"]
    skipped = ", ".join(LABELS.get(s, s) for s in doc.get("skipped", [])) or "none"
    command = doc.get("command", "python benchmarks/ingest.py")
    return (
        "\n".join(lines)
        + f"\n\n{doc['rows']:,} rows x {doc['columns']} columns; {doc['repeat']} rotating rounds, "
        f"medians (peak RSS: the largest); {m['cpus']} cores, Python {m['python']}, load average "
        f"{m['load_average_at_start']:.1f} at the start and {m['load_average_at_end']:.1f} at the "
        f"end. Not run: {skipped}. Command: `{command}`.\n"
    )
