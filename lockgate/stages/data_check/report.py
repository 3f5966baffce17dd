"""Write a run's outcome: data-check.json (everything), metrics.json (flat), report.md with
drift histograms as PNG files beside it (matplotlib, Agg backend, imported only here)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from lockgate.stages.data_check.outcome import ColumnDrift, DataCheckOutcome

MAX_PLOTS = 20


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, default=str) + "\n"


def flat_metrics(outcome: DataCheckOutcome) -> dict[str, float | str]:
    metrics: dict[str, float | str] = {
        "passed": int(outcome.passed),
        "rows": outcome.rows or 0,
        "checks": len(outcome.checks),
        "checks_failed": len(outcome.failures),
        "drifted_columns": sum(d.drifted for d in outcome.drift),
        "pii_detected": ",".join(outcome.pii_detected),
    }
    for d in outcome.drift:
        for metric, value in d.metrics.items():
            metrics[f"drift_{metric}.{d.column}"] = round(value, 6)
    return metrics


def _plot(drift: ColumnDrift, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ref_total = sum(drift.reference_hist) or 1
    cur_total = sum(drift.current_hist) or 1
    xs = range(len(drift.bin_labels))
    fig, ax = plt.subplots(figsize=(6, 3))
    try:
        ax.bar(
            [x - 0.2 for x in xs],
            [v / ref_total for v in drift.reference_hist],
            0.4,
            label="reference",
        )
        ax.bar(
            [x + 0.2 for x in xs], [v / cur_total for v in drift.current_hist], 0.4, label="current"
        )
        ax.set_xticks(list(xs), drift.bin_labels, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("share of rows")
        ax.set_title(f"{drift.column} ({'drifted' if drift.drifted else 'stable'})")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=80)
    finally:
        plt.close(fig)


def _cell(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|")


def markdown(outcome: DataCheckOutcome, plots: dict[str, str]) -> str:
    """Failures and drift first, in full; passing checks grouped by check and folded away, so a
    wide dataset (64 pixel columns) gives a page, not hundreds of "pass" rows. Every row is in
    data-check.json."""
    verdict = "passed" if outcome.passed else f"FAILED ({len(outcome.failures)} checks)"
    lines = [f"# Data check: {verdict}", "", f"Data: `{outcome.data}`, rows: {outcome.rows}", ""]
    lines += [f"- {note}" for note in outcome.notes]
    if outcome.pii_detected:
        lines.append(f"- PII detected in: {', '.join(outcome.pii_detected)}")
    header = ["| check | column | value | threshold | verdict |", "|---|---|---|---|---|"]
    shown = [c for c in outcome.checks if c.verdict != "pass"]  # fail, flag, report, skipped
    if shown:
        lines += ["", "## Failures and findings" if outcome.failures else "## Findings", ""]
        lines += header
        for c in sorted(shown, key=lambda c: not c.failed):
            lines.append(
                f"| {c.name} | {_cell(c.column or '')} | {_cell(c.value)} | "
                f"{_cell(c.threshold)} | {c.verdict.upper() if c.failed else c.verdict} |"
            )
    if outcome.drift:
        lines += _drift_lines(outcome, plots)
    passing = [c for c in outcome.checks if c.verdict == "pass"]
    if passing:
        groups: dict[str, list[str]] = {}
        for c in passing:
            groups.setdefault(c.name, []).append(c.column or "")
        lines += ["", f"<details><summary>{len(passing)} checks passed</summary>", ""]
        lines += ["| check | passed for |", "|---|---|"]
        for name, columns in groups.items():
            named = [col for col in columns if col]
            where = _columns(named) if named else "the dataset"
            lines.append(f"| {name} | {where} |")
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _columns(names: list[str], limit: int = 8) -> str:
    text = ", ".join(_cell(n) for n in names[:limit])
    more = len(names) - limit
    return f"{len(names)} columns: {text}" + (f" and {more} more" if more > 0 else "")


def _drift_lines(outcome: DataCheckOutcome, plots: dict[str, str]) -> list[str]:
    drifted = [d for d in outcome.drift if d.drifted]
    stable = [d for d in outcome.drift if not d.drifted]
    lines = ["", "## Drift", ""]
    if drifted:
        lines += ["| column | kind | metrics | drifted |", "|---|---|---|---|"]
        for d in drifted:
            metrics = ", ".join(f"{k}={v:.4g}" for k, v in d.metrics.items())
            lines.append(f"| {_cell(d.column)} | {d.kind} | {metrics} | True |")
        lines.append("")
    if stable:
        lines.append(f"Stable: {_columns([d.column for d in stable])}.")
    lines += [""] + [f"![{col}]({name})" for col, name in plots.items()]
    return lines


def write_outputs(out: Path, outcome: DataCheckOutcome, *, histograms: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "data-check.json", _json(outcome.as_json()))
    _write(out / "metrics.json", _json(flat_metrics(outcome)))
    plots: dict[str, str] = {}
    if histograms:
        for i, d in enumerate(outcome.drift[:MAX_PLOTS]):
            name = f"drift-{i:02d}-{re.sub(r'[^A-Za-z0-9_.-]', '_', d.column)[:40]}.png"
            _plot(d, out / name)
            plots[d.column] = name
    _write(out / "report.md", markdown(outcome, plots))
