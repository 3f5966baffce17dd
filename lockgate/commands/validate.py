from __future__ import annotations

import argparse

from lockgate.commands.project import add_spec_argument, load_project


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)


def run(args: argparse.Namespace) -> int:
    import sys

    from lockgate.engine.secrets import missing_secrets

    project = load_project(args)
    declared = {n: {"env": s.env, "file": s.file} for n, s in project.pipeline.secrets.items()}
    for problem in missing_secrets(declared, sorted(declared), project.root):
        print(f"warning: {problem} (a run of a stage that uses it will fail)", file=sys.stderr)
    n = len(project.pipeline.stages)
    print(f"ok: {project.spec_path.name} ({project.pipeline.name}, {n} stage{'s' * (n != 1)})")
    return 0
