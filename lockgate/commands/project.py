"""What most commands share: find and load the spec, build the plan."""

from __future__ import annotations

import argparse
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.engine.plan import Plan, build_plan
from lockgate.engine.runner import Workspace
from lockgate.spec.loader import find_spec, parse_spec
from lockgate.spec.yamlpos import read_spec_text


def add_spec_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spec",
        type=Path,
        default=None,
        metavar="PATH",
        help="the spec (default: lockgate.yaml here or in a parent folder)",
    )


@dataclass(frozen=True)
class Project:
    spec_path: Path
    spec_text: str
    pipeline: Any

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


def load_project(args: argparse.Namespace) -> Project:
    path = (args.spec or find_spec()).resolve() if args.spec else find_spec()
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
