"""A stage's ``report.md`` and ``metrics.json`` as a job summary."""

from __future__ import annotations

import json
from pathlib import Path

from lockgate.contract import TRAINING_CURVE_NAMES
from lockgate.report.charts import history_chart, load_history
from lockgate.report.links import rewrite_links


def render_summary(stage: str, out_dir: Path) -> str:
    """Markdown for one stage: its report, then its metrics as a table."""
    folder = out_dir / stage
    parts = [f"## lockgate stage `{stage}`\n"]
    report = folder / "report.md"
    if report.is_file():

        def chart(target: str) -> str | None:
            history = load_history([folder, *out_dir.glob("*")])
            ok = target.endswith(TRAINING_CURVE_NAMES) and history
            return history_chart(history) if ok and history else None

        # a job summary has no folder: no relative links (charts inline, other files named)
        text = rewrite_links(report.read_text(encoding="utf-8"), stage, None, chart)
        parts.append(text.rstrip() + "\n")
    metrics = _metrics(folder / "metrics.json")
    if metrics:
        rows = "".join(f"| {_cell(k)} | {_cell(v)} |\n" for k, v in sorted(metrics.items()))
        parts.append("| metric | value |\n|---|---|\n" + rows)
    if len(parts) == 1:
        parts.append("_no report.md or metrics.json was written._\n")
    return "\n".join(parts)


def _metrics(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {"metrics.json": "not valid JSON"}
    if not isinstance(data, dict):
        return {"metrics.json": "not a JSON object"}
    return {str(k): v for k, v in data.items() if isinstance(v, int | float | str)}


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
