from __future__ import annotations

import argparse

from lockgate.commands._options import add_spec_argument, older_than_seconds
from lockgate.commands._project import load_project


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)
    parser.add_argument("action", choices=["prune"], help="prune: remove cache entries")
    parser.add_argument(
        "--older-than",
        default=None,
        metavar="DURATION",
        help="only entries older than this (e.g. 7d, 12h, 30m)",
    )


def run(args: argparse.Namespace) -> int:
    project = load_project(args)
    older = older_than_seconds(args.older_than) if args.older_than else None
    removed = project.workspace.cache.prune(older_than_s=older)
    print(f"removed {removed} cache entr{'y' if removed == 1 else 'ies'}")
    return 0
