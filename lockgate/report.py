"""One Markdown report from a run's stage outputs, for a PR/MR comment or a job summary.

A run folder holds ``<stage>/out/`` per stage; each may hold ``report.md`` and ``metrics.json``.
Images stay where they are: relative links in a stage's report are rewritten to be relative to
the run folder, nothing is uploaded. GitHub limits a comment to 65536 characters, so the
document is capped, each stage giving up only its share of the excess, with a notice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

GITHUB_COMMENT_LIMIT = 65536
_LINK = re.compile(r"(!?\[[^\]]*\]\()(?![a-z][a-z0-9+.-]*:|/|#)([^)\s]+)(\))", re.IGNORECASE)
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


def rebase_links(markdown: str, prefix: str) -> str:
    """Make relative links/images in ``markdown`` relative to the folder above ``prefix``."""
    return _LINK.sub(lambda m: f"{m.group(1)}{prefix}/{m.group(2)}{m.group(3)}", markdown)


def metrics_table(metrics: dict[str, object]) -> str:
    lines = ["| metric | value |", "|---|---|"]
    for key, value in metrics.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"| {key} | {shown} |")
    return "\n".join(lines) + "\n"


def read_section(run_dir: Path, stage: str) -> StageSection:
    out = run_dir / stage / "out"
    report, metrics = out / "report.md", out / "metrics.json"
    if report.is_file():
        body = rebase_links(report.read_text(errors="replace"), f"{stage}/out")
        return StageSection(stage, body, f"{stage}/out/report.md")
    if metrics.is_file():
        try:
            loaded = json.loads(metrics.read_text())
        except json.JSONDecodeError as exc:
            return StageSection(
                stage, f"_metrics.json is not valid JSON: {exc}_\n", f"{stage}/out/metrics.json"
            )
        if isinstance(loaded, dict):
            return StageSection(stage, metrics_table(loaded), f"{stage}/out/metrics.json")
    if not out.is_dir():
        return StageSection(stage, "_no output (stage not run or skipped)_\n", f"{stage}/out")
    return StageSection(stage, "_no report or metrics_\n", f"{stage}/out")


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
) -> str:
    """The whole report, at most ``max_chars`` characters long."""
    header = f"## {title}\n\n"
    sections = [read_section(run_dir, stage) for stage in stages]
    full = header + "\n".join(s.render() for s in sections)
    if len(full) <= max_chars:
        return full
    overhead = len(header) + sum(len(f"### {s.stage}\n\n") + 2 for s in sections)
    budget = max(max_chars - overhead, 0)
    limits = fair_shares([len(s.body) for s in sections], budget)
    text = header + "\n".join(s.render(n) for s, n in zip(sections, limits, strict=True))
    return text[:max_chars]
