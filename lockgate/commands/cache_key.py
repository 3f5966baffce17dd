from __future__ import annotations

import argparse
from pathlib import Path

from lockgate.commands._options import add_spec_argument
from lockgate.commands._project import load_plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)
    parser.add_argument("stage")
    parser.add_argument(
        "--upstream-dir",
        type=Path,
        metavar="DIR",
        help="outputs of upstream stages, one sub-folder per stage",
    )


def run(args: argparse.Namespace) -> int:
    from lockgate.engine.workspace import KeyResolver

    project = load_plan(args)
    plan = project.plan
    spec = plan.select([args.stage], only=True).stages[0]
    files = project.workspace.files()
    upstream = args.upstream_dir.resolve() if args.upstream_dir else None
    print(KeyResolver(plan, project.workspace, files, upstream).key(spec))
    files.save()
    return 0
