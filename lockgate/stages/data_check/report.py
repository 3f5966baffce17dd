"""Write a run's outcome: data-check.json (everything), metrics.json (flat), report.md with
drift histograms as SVG files beside it (:mod:`lockgate.stages.svg`: no plotting library)."""

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


_W, _H = 600, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 34, 78


def _plot(drift: ColumnDrift, path: Path) -> None:
    """The reference's and the current data's share of rows per bin, side by side."""
    from lockgate.stages import svg

    ref_total = sum(drift.reference_hist) or 1
    cur_total = sum(drift.current_hist) or 1
    ref = [v / ref_total for v in drift.reference_hist]
    cur = [v / cur_total for v in drift.current_hist]
    n = max(1, len(drift.bin_labels), len(ref), len(cur))
    y_ticks = svg.ticks(0.0, max([*ref, *cur, 0.0]) or 1.0)
    y_hi = y_ticks[-1] or 1.0
    left, right, top, bottom = _LEFT, _W - _RIGHT, _TOP, _H - _BOTTOM
    group = (right - left) / n
    bar = group * 0.4

    def py(share: float) -> float:
        return bottom - share / y_hi * (bottom - top)

    parts = []
    for t in y_ticks:
        parts.append(svg.line(left, py(t), right, py(t), "#eee"))
        parts.append(svg.text(left - 6, py(t) + 4, svg.number(t), "end", size=10))
    for shares, colour, shift in ((ref, svg.BLUE, -bar), (cur, svg.ORANGE, 0.0)):
        for i, share in enumerate(shares):
            x = left + group * (i + 0.5) + shift
            parts.append(
                f'<rect x="{x:.1f}" y="{py(share):.1f}" width="{bar:.1f}" '
                f'height="{bottom - py(share):.1f}" fill="{colour}"><title>{share:.4g}</title>'
                "</rect>"
            )
    step = max(1, round(12 / group))  # bin labels no closer than 12 px
    for i in range(0, len(drift.bin_labels), step):
        x = left + group * (i + 0.5)
        parts.append(svg.text(x, bottom + 12, drift.bin_labels[i], "end", size=8, rotate=-45))
    parts.append(svg.line(left, bottom, right, bottom, "#999"))
    parts.append(svg.text(14, (top + bottom) / 2, "share of rows", "middle", rotate=-90))
    state = "drifted" if drift.drifted else "stable"
    parts.append(svg.text(left, 16, f"{drift.column} ({state})", size=12))
    parts += svg.legend(right, 16, [("reference", svg.BLUE), ("current", svg.ORANGE)])
    svg.write(path, svg.document(_W, _H, parts))


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
            name = f"drift-{i:02d}-{re.sub(r'[^A-Za-z0-9_.-]', '_', d.column)[:40]}.svg"
            _plot(d, out / name)
            plots[d.column] = name
    _write(out / "report.md", markdown(outcome, plots))
