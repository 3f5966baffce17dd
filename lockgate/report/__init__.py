"""One Markdown report from a run's stage outputs, for a PR/MR comment or a job summary.

A local run folder holds ``<stage>/out/`` per stage; CI jobs export ``<stage>/`` directly; both
are read. Each stage folder may hold ``report.md`` and ``metrics.json``. A comment has no folder,
so relative links are rewritten (:mod:`lockgate.report.links`): absolute under the artifact URL
when given, else charts drawn inline or file names. GitHub limits a comment to 65536
characters, so the document is capped, each stage giving up only its share of the excess.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lockgate.contract import TRAINING_CURVE_NAMES
from lockgate.report.charts import history_chart, load_history
from lockgate.report.links import rewrite_links

GITHUB_COMMENT_LIMIT = 65536
_TRUNCATED = "\n\n*… {stage}: truncated ({cut:,} characters left out; full text in {path}).*\n"


@dataclass(frozen=True)
class StageSection:
    stage: str
    body: str
    source: str  # the file the body came from, relative to the run folder

    def render(self, limit: int | None = None) -> str:
        head = f"### {self.stage}\n\n"
        if limit is None or len(self.body) <= limit:
            return head + self.body.rstrip() + "\n"
        notice = _TRUNCATED.format(stage=self.stage, cut=len(self.body) - limit, path=self.source)
        cut = self.body[: max(limit - len(notice), 0)]
        cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
        return head + cut.rstrip() + notice


def stage_folder(run_dir: Path, stage: str) -> Path | None:
    """``<stage>/out`` of a local run, else ``<stage>`` as CI exports it; None if neither."""
    for folder in (run_dir / stage / "out", run_dir / stage):
        if folder.is_dir():
            return folder
    return None


def metrics_table(metrics: dict[str, object]) -> str:
    lines = ["| metric | value |", "|---|---|"]
    for key, value in metrics.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"| {key} | {shown} |")
    return "\n".join(lines) + "\n"


def read_section(run_dir: Path, stage: str, artifact_url: str | None = None) -> StageSection:
    out = stage_folder(run_dir, stage)
    if out is None:
        return StageSection(stage, "_no output (stage not run or skipped)_\n", stage)
    where = out.relative_to(run_dir).as_posix()
    report, metrics = out / "report.md", out / "metrics.json"
    if report.is_file():

        def chart(target: str) -> str | None:
            if not target.endswith(TRAINING_CURVE_NAMES):
                return None
            history = load_history([out, *sorted(run_dir.glob("*/out")), *run_dir.glob("*")])
            return history_chart(history) if history else None

        body = rewrite_links(report.read_text(errors="replace"), where, artifact_url, chart)
        return StageSection(stage, body, f"{where}/report.md")
    if metrics.is_file():
        try:
            loaded = json.loads(metrics.read_text())
        except json.JSONDecodeError as exc:
            return StageSection(
                stage, f"_metrics.json is not valid JSON: {exc}_\n", f"{where}/metrics.json"
            )
        if isinstance(loaded, dict):
            return StageSection(stage, metrics_table(loaded), f"{where}/metrics.json")
    return StageSection(stage, "_no report or metrics_\n", where)


def fair_shares(sizes: Sequence[int], budget: int) -> list[int]:
    """Split ``budget`` so small sections keep everything and large ones share the rest."""
    shares = [0] * len(sizes)
    remaining, open_ = budget, sorted(range(len(sizes)), key=lambda i: sizes[i])
    while open_:
        share = remaining // len(open_)
        i = open_[0]
        if sizes[i] <= share:
            shares[i] = sizes[i]
            remaining -= sizes[i]
            open_.pop(0)
        else:
            for j in open_:
                shares[j] = share
            break
    return shares


def collect_report(
    run_dir: Path,
    stages: list[str],
    title: str = "lockgate run",
    max_chars: int = GITHUB_COMMENT_LIMIT,
    artifact_url: str | None = None,
) -> str:
    """The whole report, at most ``max_chars`` characters long."""
    header = f"## {title}\n\n"
    sections = [read_section(run_dir, stage, artifact_url) for stage in stages]
    full = header + "\n".join(s.render() for s in sections)
    if len(full) <= max_chars:
        return full
    overhead = len(header) + sum(len(f"### {s.stage}\n\n") + 2 for s in sections)
    budget = max(max_chars - overhead, 0)
    limits = fair_shares([len(s.body) for s in sections], budget)
    text = header + "\n".join(s.render(n) for s, n in zip(sections, limits, strict=True))
    return text[:max_chars]
