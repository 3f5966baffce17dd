"""lockgate approve ENV --digest sha256:... [--expires 24h] [--revoke]"""

from __future__ import annotations

import argparse

from lockgate.commands._release import (
    add_release_arguments,
    checkpoint_if_due,
    open_store,
    print_statement,
    proven_actor,
    report,
)

UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("environment", help="the environment the approval is for")
    parser.add_argument("--digest", required=True, help="the image digest approved (sha256:...)")
    parser.add_argument("--reason", help="why, for the ledger")
    parser.add_argument(
        "--expires",
        metavar="DURATION",
        help="lifetime, e.g. 4h (at most the policy's approval_ttl)",
    )
    parser.add_argument("--revoke", action="store_true", help="withdraw your approval instead")
    add_release_arguments(parser)


def duration_text(seconds: int) -> str:
    """``5400`` -> ``1h30m``: units largest first, as ``--expires`` reads them."""
    parts = []
    for unit, size in UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def run(args: argparse.Namespace) -> int:
    from lockgate.commands._project import load_project
    from lockgate.delivery.promotion.approve import approve, revoke
    from lockgate.delivery.promotion.refs import check_digest
    from lockgate.delivery.promotion.rules import environment_rules
    from lockgate.errors import LockgateError
    from lockgate.spec.durations import parse_duration

    project = load_project(args)
    digest = check_digest(args.digest)
    rules = environment_rules(project.pipeline, project.root, args.environment)
    op = "revoke" if args.revoke else "approve"
    terms: tuple[tuple[str, str], ...] = ()
    lifetime = rules.approvers.ttl
    if not args.revoke:
        try:
            asked = parse_duration(args.expires) if args.expires else lifetime
        except ValueError as exc:
            raise LockgateError(f"--expires: {exc}") from None
        lifetime = min(asked, lifetime)  # the statement names the lifetime the approval gets
        terms = (("expires after", duration_text(lifetime)),)
    store = open_store(project, args, sync=not args.print_statement)
    if args.print_statement:
        return print_statement(store, op, args.environment, digest, terms)
    actor = proven_actor(project, args, store, op, args.environment, digest, terms)
    if args.revoke:
        outcome = revoke(store, rules, actor, digest, reason=args.reason)
    else:
        outcome = approve(store, rules, actor, digest, expires_in=lifetime, reason=args.reason)
    checkpoint_if_due(project, args, store)
    return report(outcome, args.json)
