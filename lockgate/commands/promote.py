"""lockgate promote ENV --image REG/NAME@sha256:... : verify, gate, deploy, record."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from lockgate.commands._project import load_project
from lockgate.commands._release import (
    add_plain_http_argument,
    add_release_arguments,
    checkpoint_if_due,
    open_store,
    print_statement,
    promoter,
    proven_actor,
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


def file_digest(path: Path) -> str:
    from lockgate.errors import LockgateError

    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise LockgateError(
            f"--data-check {path}: cannot read the data-check result ({exc.strerror}); "
            "give the data-check stage's data-check.json"
        ) from None


def run(args: argparse.Namespace) -> int:
    from lockgate.delivery.promotion.refs import parse_image, parse_model

    project = load_project(args)
    image = parse_image(args.image)
    model = parse_model(args.model) if args.model else None
    # the statement names everything the promotion decides by: what is deployed from where, the
    # model version whose alias moves, the author four-eyes holds to, the PII residency counts
    terms = (
        ("image", str(image)),
        ("model", str(model) if model else "-"),
        ("author", args.author or "-"),
        ("data-check", file_digest(args.data_check) if args.data_check else "-"),
    )
    store = open_store(project, args, sync=not args.print_statement)
    if args.print_statement:
        return print_statement(store, "promote", args.environment, image.digest, terms)
    actor = proven_actor(project, args, store, "promote", args.environment, image.digest, terms)
    gate = promoter(project, args, store, actor)
    outcome = gate.promote(
        args.environment,
        args.image,
        model=model,
        author=args.author,
        data_check=args.data_check,
        reason=args.reason,
    )
    checkpoint_if_due(project, args, gate.ledger)
    return report(outcome, args.json)
