"""The streaming data-check table for docs/ (see benchmarks/published.py); nothing here measures."""

from __future__ import annotations

from typing import Any

from benchmarks.tables import _machine, run_figures


def stream(doc: dict[str, Any]) -> str:
    """``data-check-stream.json``: the budgeted run and the one-pass run over the same file."""
    base, budget = doc["baseline_rss_mib"], doc["budget_mib"]
    times = doc["in_memory_mib"] / budget
    rows = [
        "| run | budget | peak RSS | above the imports-only baseline | time | exit, drifted |",
        "|---|---|---|---|---|---|",
    ]
    for label, key, limit in (
        ("`memory_budget` set", "budgeted", f"{budget} MiB"),
        ("one pass (no `memory_budget`)", "one_pass", "none"),
    ):
        run = doc[key]
        drifted = ", ".join(run["drifted"]) or "none"
        rows.append(
            f"| {label} | {limit} | {run['peak_rss_mib']:,.0f} MiB | "
            f"{run['peak_rss_mib'] - base:,.0f} MiB | {run['seconds']:.1f} s | "
            f"{run['exit']}, {drifted} |"
        )
    return (
        "\n".join(rows) + f"\n\nFile: {doc['rows']:,} rows, {doc['file_mib']:,.0f} MiB of Parquet, "
        f"{doc['in_memory_mib']:,.0f} MiB in memory ({times:.1f}x the budget); a child that "
        f"only imports the libraries peaks at {base:.0f} MiB. One run of each side. "
        + _machine(doc)
        + "\n"
    )


def stream_figures(doc: dict[str, Any]) -> dict[str, str]:
    """``data-check-stream.json``: the budgeted run's peak, above the baseline and in all, and
    each run's time, as in the table; the budgeted run's time over the one-pass run's."""
    budgeted, one_pass = doc["budgeted"], doc["one_pass"]
    return run_figures(doc) | {
        "budgeted_peak_rss": f"{budgeted['peak_rss_mib']:,.0f} MiB",
        "budgeted_above_baseline": f"{budgeted['peak_rss_mib'] - doc['baseline_rss_mib']:,.0f} MiB",
        "budgeted_seconds": f"{budgeted['seconds']:.1f} s",
        "one_pass_seconds": f"{one_pass['seconds']:.1f} s",
        "budgeted_over_one_pass": f"{budgeted['seconds'] / one_pass['seconds']:.1f}x",
    }
