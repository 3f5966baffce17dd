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
