from __future__ import annotations

import argparse

from lockgate.commands._options import add_spec_argument
from lockgate.commands._project import load_project
from lockgate.errors import LockgateError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)
    parser.add_argument("action", choices=["prune"], help="prune: remove cache entries")
    parser.add_argument(
        "--older-than",
        default=None,
        metavar="DURATION",
        help="only entries older than this (e.g. 7d, 12h, 30m)",
    )


def _seconds(text: str) -> float:
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    try:
        return float(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError, IndexError):
        raise LockgateError(
            f"--older-than {text!r}: expected a number and a unit d/h/m/s"
        ) from None


def run(args: argparse.Namespace) -> int:
    project = load_project(args)
    older = _seconds(args.older_than) if args.older_than else None
    removed = project.workspace.cache.prune(older_than_s=older)
    print(f"removed {removed} cache entr{'y' if removed == 1 else 'ies'}")
    return 0
