from __future__ import annotations

import argparse

from lockgate.commands._options import add_spec_argument
from lockgate.commands._project import load_project


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)


def run(args: argparse.Namespace) -> int:
    project = load_project(args)
    n = len(project.pipeline.stages)
    print(f"ok: {project.spec_path.name} ({project.pipeline.name}, {n} stage{'s' * (n != 1)})")
    return 0
