"""Drift as checks: one ``drift_<metric>`` per column (``flag`` when over its threshold, never
failing on its own) and the dataset-level rule that fails the stage."""

from __future__ import annotations

from collections.abc import Sequence

from lockgate.stages.data_check.outcome import CheckResult, ColumnDrift, Verdict
from lockgate.stages.data_check.spec import DriftSpec


def drift_checks(drift: DriftSpec, columns: Sequence[ColumnDrift]) -> list[CheckResult]:
    results = []
    for col in columns:
        for metric, threshold in col.thresholds.items():
            value = col.metrics[metric]
            verdict: Verdict = "flag" if value > threshold else "pass"
            results.append(CheckResult(f"drift_{metric}", col.column, value, threshold, verdict))
        if col.new_categories:
            shown = ", ".join(col.new_categories[:5])
            results.append(
                CheckResult(
                    "new_categories",
                    col.column,
                    len(col.new_categories),
                    0,
                    "report",
                    f"not in the reference: {shown}",
                )
            )
    drifted = [c.column for c in columns if c.drifted]
    detail = f"drifted: {', '.join(drifted)}" if drifted else ""
    if drift.max_drifted_columns is not None:
        ok = len(drifted) <= drift.max_drifted_columns
        results.append(
            CheckResult(
                "drifted_columns",
                None,
                len(drifted),
                drift.max_drifted_columns,
                "pass" if ok else "fail",
                detail,
            )
        )
    if drift.max_drifted_fraction is not None:
        fraction = len(drifted) / len(columns) if columns else 0.0
        ok = fraction <= drift.max_drifted_fraction
        results.append(
            CheckResult(
                "drifted_fraction",
                None,
                fraction,
                drift.max_drifted_fraction,
                "pass" if ok else "fail",
                detail,
            )
        )
    return results
