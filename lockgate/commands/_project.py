"""What most commands share: find and load the spec, build the plan."""

from __future__ import annotations

import argparse
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.engine.plan import Plan, build_plan
from lockgate.engine.workspace import Workspace
from lockgate.spec.loader import find_spec, parse_spec
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

    path = args.spec.resolve() if args.spec else find_spec()
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
    path = args.spec.resolve() if args.spec else find_spec()
    text = read_spec_text(path)
    shown = _display_path(path)
    return Project(path, text, parse_spec(text, shown))


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
