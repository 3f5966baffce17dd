"""lockgate promote ENV --image REG/NAME@sha256:... : verify, gate, deploy, record."""

from __future__ import annotations

import argparse
from pathlib import Path

from lockgate.commands._project import load_project
from lockgate.commands._release import (
    add_plain_http_argument,
    add_release_arguments,
    checkpoint_if_due,
    promoter,
    report,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("environment", help="the environment to promote into")
    parser.add_argument("--image", required=True, help="REGISTRY/NAME@sha256:... (by digest)")
    parser.add_argument("--model", help="the model version in the image: models:/NAME/VERSION")
    parser.add_argument("--author", help="who triggered the training / authored the change")
    parser.add_argument(
        "--data-check",
        type=Path,
        metavar="FILE",
        help="the data-check stage's data-check.json (its pii_detected list)",
    )
    parser.add_argument("--reason", help="why, for the ledger")
    add_release_arguments(parser)
    add_plain_http_argument(parser)


def run(args: argparse.Namespace) -> int:
    from lockgate.delivery.promotion.refs import parse_model

    digest = args.image.partition("@")[2] or "-"
    project = load_project(args)
    gate = promoter(project, args, "promote", digest)
    outcome = gate.promote(
        args.environment,
        args.image,
        model=parse_model(args.model) if args.model else None,
        author=args.author,
        data_check=args.data_check,
        reason=args.reason,
    )
    checkpoint_if_due(project, args, gate.ledger)
    return report(outcome, args.json)
