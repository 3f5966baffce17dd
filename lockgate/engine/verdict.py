"""What the runner makes of a finished stage: the folders it ran in, and whether it succeeded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lockgate.engine.executor import ExecOutcome
from lockgate.engine.stagespec import StageSpec


@dataclass(frozen=True)
class Verdict:
    state: str  # "ok", "failed" or "interrupted"
    reason: str = ""
    exit_code: int | None = None


def judge(spec: StageSpec, outcome: ExecOutcome, *, cancelled: bool, out: Path) -> Verdict:
    """Interrupted, failed (exit code, timeout, a declared output missing), or ok."""
    if outcome.interrupted or cancelled:
        return Verdict("interrupted", "interrupted")
    if outcome.exit_code != 0:
        why = (
            f"timed out after {spec.timeout}s"
            if outcome.timed_out
            else f"exit code {outcome.exit_code}"
        )
        return Verdict("failed", why, outcome.exit_code)
    missing = [p for p in spec.outputs if not any(out.glob(p))]
    if missing:
        return Verdict("failed", f"declared output {missing[0]!r} was not written", 0)
    return Verdict("ok", exit_code=0)


def lay_out(
    stage_dir: Path, inputs: Mapping[str, Path], caches: Mapping[str, Path], state: Path
) -> Path:
    """The stage's folder, its ``in/`` links to upstream outputs (returned), its cache folders
    and the project's state folder."""
    stage_dir.mkdir(parents=True, exist_ok=True)
    in_dir = stage_dir / "in"
    in_dir.mkdir(exist_ok=True)
    for name, folder in inputs.items():
        (in_dir / name).symlink_to(folder.resolve(), target_is_directory=True)
    for folder in (*caches.values(), state):
        folder.mkdir(parents=True, exist_ok=True)
    return in_dir
