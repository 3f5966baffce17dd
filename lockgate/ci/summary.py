"""A stage's ``report.md`` and ``metrics.json`` as a job summary, defused like a PR comment
(:mod:`lockgate.report.sanitize`): the pull request's code wrote them."""

from __future__ import annotations

import json
from pathlib import Path

from lockgate.contract import TRAINING_CURVE_NAMES
from lockgate.report import read_text
from lockgate.report.charts import history_chart, load_history
from lockgate.report.links import rewrite_links
from lockgate.report.sanitize import balance, inline, markdown

# GitHub drops a step's whole summary past 1024 KiB ("$GITHUB_STEP_SUMMARY upload aborted")
SUMMARY_LIMIT = 1_000_000  # bytes
_CUT = "\n\n*… truncated: the whole file is in the stage's outputs ({name}).*\n"


def render_summary(stage: str, out_dir: Path) -> str:
    """Markdown for one stage: its report, then its metrics as a table."""
    folder = out_dir / stage
    parts = [f"## lockgate stage `{inline(stage)}`\n"]
    metrics = _metrics(folder / "metrics.json")
    table = ""
    if metrics:
        rows = [f"| {inline(k)} | {inline(str(v))} |\n" for k, v in sorted(metrics.items())]
        table = _capped("| metric | value |\n|---|---|\n" + "".join(rows), SUMMARY_LIMIT // 2)
    report = folder / "report.md"
    if report.is_file():

        def chart(target: str) -> str | None:
            history = load_history([folder, *out_dir.glob("*")])
            ok = target.endswith(TRAINING_CURVE_NAMES) and history
            return history_chart(history) if ok and history else None

        # a job summary has no folder: no relative links (charts inline, other files named)
        text = rewrite_links(read_text(report), stage, None, chart)
        room = SUMMARY_LIMIT - len(table.encode()) - len(parts[0].encode()) - 16
        parts.append(_capped(markdown(text), room, "report.md").rstrip() + "\n")
    if table:
        parts.append(table)
    if len(parts) == 1:
        parts.append("_no report.md or metrics.json was written._\n")
    return "\n".join(parts)


def _capped(text: str, limit: int, name: str = "metrics.json") -> str:
    """``text`` within ``limit`` UTF-8 bytes: cut at a line end, what the cut left open closed,
    and a notice saying so."""
    if len(text.encode()) <= limit:
        return text
    notice = _CUT.format(name=name)
    cut = text.encode()[: max(limit - len(notice.encode()) - 64, 0)].decode("utf-8", "ignore")
    cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
    return balance(cut.rstrip()) + notice


def _metrics(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(read_text(path))
    except ValueError:
        return {"metrics.json": "not valid JSON"}
    if not isinstance(data, dict):
        return {"metrics.json": "not a JSON object"}
    return {str(k): v for k, v in data.items() if isinstance(v, int | float | str)}
