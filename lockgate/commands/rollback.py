"""lockgate rollback ENV [--to VERSION|DIGEST]: back to the previous release that ran healthy."""

from __future__ import annotations

import argparse

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
    from lockgate.delivery.promotion.promote import planned_rollback

    project = load_project(args)
    store = open_store(project, args)
    # the statement names the digest the rollback goes back to, the one it replaces and whether
    # it is an emergency: signed for one rollback, it proves no other (nor this one once the
    # environment has moved on)
    plan = planned_rollback(store.entries(), args.environment, args.to)
    terms = (("replacing", plan.replaced), ("emergency", "yes" if args.emergency else "no"))
    if args.print_statement:
        return print_statement(store, "rollback", args.environment, plan.target, terms)
    actor = proven_actor(project, args, store, "rollback", args.environment, plan.target, terms)
    gate = promoter(project, args, store, actor)
    outcome = gate.rollback(
        args.environment, to=args.to, reason=args.reason, emergency=args.emergency, signed=plan
    )
    checkpoint_if_due(project, args, gate.ledger)
    return report(outcome, args.json)
