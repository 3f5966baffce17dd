"""What most commands share: find and load the spec, build the plan."""

from __future__ import annotations

import argparse
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.engine.plan import Plan, build_plan
from lockgate.engine.workspace import Workspace
from lockgate.spec.loader import parse_spec, spec_path
from lockgate.spec.yamlpos import read_spec_text

if TYPE_CHECKING:
    from lockgate.spec.models import Pipeline


@dataclass(frozen=True)
class Project:
    spec_path: Path
    spec_text: str
    pipeline: Pipeline

    @property
    def root(self) -> Path:
        return self.spec_path.parent

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.root)

    def plan(self) -> Plan:
        ws = self.workspace
        files = ws.files()
        plan = build_plan(self.pipeline, self.root, files)
        files.save()
        return plan


@dataclass(frozen=True)
class LoadedPlan:
    """A plan ready to run, from the compiled-plan cache when the spec is unchanged."""

    spec_path: Path
    spec_text: str
    plan: Plan
    secrets: dict[str, dict[str, str | None]]  # name -> {"env": ..., "file": ...}

    @property
    def root(self) -> Path:
        return self.spec_path.parent

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.root)


def load_plan(args: argparse.Namespace) -> LoadedPlan:
    from lockgate.engine import plancache

    path = spec_path(args.spec)
    text = read_spec_text(path)
    ws = Workspace(path.parent)
    files = ws.files()
    key = plancache.plan_key(path, text, files)
    cached_file = ws.root / "plan.json"
    cached = plancache.load(cached_file, key, files)
    if cached is not None:
        files.save()
        plan, secrets = cached
        return LoadedPlan(path, text, plan, secrets)
    project = Project(path, text, parse_spec(text, _display_path(path)))
    plan = build_plan(project.pipeline, project.root, files)
    files.save()
    plancache.save(cached_file, key, plan, project.pipeline)
    secrets = {n: {"env": s.env, "file": s.file} for n, s in project.pipeline.secrets.items()}
    return LoadedPlan(path, text, plan, secrets)


def load_project(args: argparse.Namespace) -> Project:
    path = spec_path(args.spec)
    text = read_spec_text(path)
    shown = _display_path(path)
    return Project(path, text, parse_spec(text, shown))


def select_stages(plan: Plan, names: list[str], *, only: bool) -> Plan:
    """The part of ``plan`` that ``--stage NAME`` (repeated) and ``--only`` ask for."""
    from lockgate.errors import LockgateError

    if only and not names:
        raise LockgateError("--only needs at least one --stage NAME")
    for name in names:
        choices = other_stages(plan, name)
        if choices:
            raise LockgateError(
                f"--stage {shlex.quote(name)}: no such stage in {plan.pipeline_name}; {choices}"
            )
    return plan.select(names, only=only) if names else plan


SHOWN_STAGES = 20  # stage names an error lists; a longer pipeline's are counted


def other_stages(plan: Plan, name: str) -> str:
    """For a ``name`` that is no stage of ``plan``: the closest one, or else the stages it has
    (empty when ``name`` is one)."""
    import difflib

    known = [s.name for s in plan.stages]
    if name in known:
        return ""
    close = difflib.get_close_matches(name.strip().lower(), known, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    more = f" and {len(known) - SHOWN_STAGES} more" if len(known) > SHOWN_STAGES else ""
    return f"its stages: {', '.join(known[:SHOWN_STAGES])}{more}"


def _display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def git_sha(root: Path) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""
