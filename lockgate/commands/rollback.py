"""lockgate rollback ENV [--to VERSION|DIGEST]: back to the previous release that ran healthy."""

from __future__ import annotations

import argparse

from lockgate.commands._release import (
    add_plain_http_argument,
    add_release_arguments,
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
    add_release_arguments(parser)
    add_plain_http_argument(parser)


def run(args: argparse.Namespace) -> int:
    outcome = promoter(args).rollback(args.environment, to=args.to, reason=args.reason)
    return report(outcome, args.json)
