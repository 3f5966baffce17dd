"""lockgate approve ENV --digest sha256:... [--expires 24h] [--revoke]"""

from __future__ import annotations

import argparse

from lockgate.commands._release import (
    add_release_arguments,
    checkpoint_if_due,
    open_store,
    proven_actor,
    report,
)


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
    parser.add_argument(
        "--print-statement",
        action="store_true",
        help="print the statement to sign with `ssh-keygen -Y sign -n lockgate` and stop",
    )
    add_release_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from lockgate.commands._project import load_project
    from lockgate.delivery.ledger.identity import statement_for
    from lockgate.delivery.promotion.approve import approve, revoke
    from lockgate.delivery.promotion.refs import check_digest
    from lockgate.delivery.promotion.rules import environment_rules
    from lockgate.errors import LockgateError
    from lockgate.spec.durations import parse_duration

    project = load_project(args)
    digest = check_digest(args.digest)
    rules = environment_rules(project.pipeline, project.root, args.environment)
    op = "revoke" if args.revoke else "approve"
    store = open_store(project, args, sync=not args.print_statement)
    if args.print_statement:
        print(statement_for(op, args.environment, digest, store.clock()).text(), end="")
        return 0
    actor = proven_actor(project, args, store, op, args.environment, digest)
    if args.revoke:
        outcome = revoke(store, rules, actor, digest, reason=args.reason)
    else:
        try:
            expires = parse_duration(args.expires) if args.expires else None
        except ValueError as exc:
            raise LockgateError(f"--expires: {exc}") from None
        outcome = approve(store, rules, actor, digest, expires_in=expires, reason=args.reason)
    checkpoint_if_due(project, args, store)
    return report(outcome, args.json)
