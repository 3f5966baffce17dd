"""lockgate rollback ENV [--to VERSION|DIGEST]: back to the previous release that ran healthy."""

from __future__ import annotations

import argparse

from lockgate.commands._project import load_project
from lockgate.commands._release import (
    add_plain_http_argument,
    add_release_arguments,
    checkpoint_if_due,
    promoter,
    report,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("environment", help="the environment to roll back")
    parser.add_argument(
        "--to",
        metavar="VERSION|DIGEST",
        help="an earlier release: sha256:..., models:/NAME/N, or N",
    )
    parser.add_argument("--reason", help="why, for the ledger")
    parser.add_argument(
        "--emergency",
        action="store_true",
        help="roll back although the earlier release's approvals no longer hold "
        "(only for the environment's `emergency` list; recorded as an emergency)",
    )
    add_release_arguments(parser)
    add_plain_http_argument(parser)


def run(args: argparse.Namespace) -> int:
    digest = args.to if args.to and args.to.startswith("sha256:") else "-"
    project = load_project(args)
    gate = promoter(project, args, "rollback", digest)
    outcome = gate.rollback(
        args.environment, to=args.to, reason=args.reason, emergency=args.emergency
    )
    checkpoint_if_due(project, args, gate.ledger)
    return report(outcome, args.json)
