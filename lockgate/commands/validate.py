from __future__ import annotations

import argparse

from lockgate.commands.project import add_spec_argument, load_project


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)


def run(args: argparse.Namespace) -> int:
    project = load_project(args)
    n = len(project.pipeline.stages)
    print(f"ok: {project.spec_path.name} ({project.pipeline.name}, {n} stage{'s' * (n != 1)})")
    return 0
