"""One Markdown report from a run's stage outputs, for a PR/MR comment or a job summary.

A local run folder holds ``<stage>/out/`` per stage; CI jobs export ``<stage>/`` directly; both
are read. Each stage folder may hold ``report.md`` and ``metrics.json``. A comment has no folder,
so relative links are rewritten (:mod:`lockgate.report.links`): absolute under the artifact URL
when given, else charts drawn inline or file names. GitHub limits a comment to 65536
characters, so the document is capped, each stage giving up only its share of the excess.
What a stage wrote is defused first (:mod:`lockgate.report.sanitize`): it comes from the pull
request's code, and the comment goes out with the project's token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lockgate.contract import TRAINING_CURVE_NAMES
from lockgate.report.charts import history_chart, load_history
from lockgate.report.links import rewrite_links
from lockgate.report.sanitize import balance, inline, markdown

GITHUB_COMMENT_LIMIT = 65536
READ_LIMIT = 4_000_000  # bytes of one stage file read; a report is capped far below that
_TRUNCATED = "\n\n*… {stage}: truncated ({cut:,} characters left out; full text in {path}).*\n"


@dataclass(frozen=True)
class StageSection:
    stage: str
    body: str  # already defused Markdown
    source: str  # the file the body came from, relative to the run folder
    state: str = ""  # the run record's state when it is not a success (failed, skipped, ...)

    @property
    def head(self) -> str:
        shown = inline(self.stage) + (f" — {inline(self.state)}" if self.state else "")
        return f"### {shown}\n\n"

    def render(self, limit: int | None = None) -> str:
        if limit is None or len(self.body) <= limit:
            return self.head + self.body.rstrip() + "\n"
        name = inline(self.stage)
        notice = _TRUNCATED.format(stage=name, cut=len(self.body) - limit, path=inline(self.source))
        room = max(limit - len(notice), 0)
        while True:  # cut at a line end, then close what the cut left open, within the share
            cut = self.body[:room]
            cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
            closed = balance(cut.rstrip())
            if len(closed) + len(notice) <= limit or room == 0:
                return self.head + closed + notice
            room = max(room - (len(closed) - len(cut.rstrip())) - 1, 0)


@dataclass(frozen=True)
class StageRecord:
    """What a run record says of one stage: its state, its outputs folder, and why."""

    state: str = ""
    out: str = ""
    reason: str = ""

    def shown(self) -> tuple[Path | None, str]:
        """(outputs folder, state to show): ok and cached are the normal case, shown bare."""
        folder = Path(self.out) if self.out else None
        if self.state in ("", "ok", "cached"):
            return folder, ""
        why = self.reason.strip().splitlines()[0][:200] if self.reason.strip() else ""
        return folder, f"{self.state}: {why}" if why else self.state


def stage_folder(run_dir: Path, stage: str) -> Path | None:
    """``<stage>/out`` of a local run, else ``<stage>`` as CI exports it; None if neither."""
    for folder in (run_dir / stage / "out", run_dir / stage):
        if folder.is_dir():
            return folder
    return None


def metrics_table(metrics: dict[str, object]) -> str:
    lines = ["| metric | value |", "|---|---|"]
    for key, value in metrics.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        lines.append(f"| {inline(str(key))} | {inline(str(shown))} |")
    return "\n".join(lines) + "\n"


def read_text(path: Path) -> str:
    """A stage file as text whatever it holds: undecodable bytes replaced, at most
    ``READ_LIMIT`` bytes read."""
    with path.open("rb") as handle:
        return handle.read(READ_LIMIT).decode("utf-8", errors="replace")


def read_section(
    run_dir: Path,
    stage: str,
    artifact_url: str | None = None,
    folder: Path | None = None,
    state: str = "",
) -> StageSection:
    """One stage's section; ``folder`` and ``state`` come from the run record when there is
    one (a cached stage's outputs are in the cache, not the run folder)."""
    out = folder if folder is not None and folder.is_dir() else stage_folder(run_dir, stage)
    if out is None:
        return StageSection(stage, "_no output (stage not run or skipped)_\n", stage, state)
    try:
        where = out.relative_to(run_dir).as_posix()
    except ValueError:
        where = stage  # outputs kept elsewhere (the cache): name them by stage
    report, metrics = out / "report.md", out / "metrics.json"
    if report.is_file():

        def chart(target: str) -> str | None:
            if not target.endswith(TRAINING_CURVE_NAMES):
                return None
            history = load_history([out, *sorted(run_dir.glob("*/out")), *run_dir.glob("*")])
            return history_chart(history) if history else None

        body = rewrite_links(read_text(report), where, artifact_url, chart)
        return StageSection(stage, markdown(body, artifact_url), f"{where}/report.md", state)
    if metrics.is_file():
        try:
            loaded = json.loads(read_text(metrics))
        except ValueError as exc:
            problem = inline(f"metrics.json is not valid JSON: {exc}")
            return StageSection(stage, f"_{problem}_\n", f"{where}/metrics.json", state)
        if isinstance(loaded, dict):
            return StageSection(stage, metrics_table(loaded), f"{where}/metrics.json", state)
    return StageSection(stage, "_no report or metrics_\n", where, state)


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
    records: Mapping[str, StageRecord] | None = None,
) -> str:
    """The whole report, at most ``max_chars`` characters long; ``records`` (from the run's
    ``run.json``) say where a stage's outputs are and how it ended."""
    header = f"## {inline(title)}\n\n"
    known = records or {}
    sections = [
        read_section(run_dir, stage, artifact_url, *known.get(stage, StageRecord()).shown())
        for stage in stages
    ]
    full = header + "\n".join(s.render() for s in sections)
    if len(full) <= max_chars:
        return full
    overhead = len(header) + sum(len(s.head) + 2 for s in sections)
    budget = max(max_chars - overhead, 0)
    limits = fair_shares([len(s.body) for s in sections], budget)
    text = header + "\n".join(s.render(n) for s, n in zip(sections, limits, strict=True))
    return text[:max_chars]
