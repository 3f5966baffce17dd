"""lockgate health ENV [--mark healthy|unhealthy]: record whether the current release is healthy
(asked of the deployer, or marked by you)."""

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("environment")
    parser.add_argument(
        "--mark",
        choices=("healthy", "unhealthy"),
        help="record this verdict instead of asking the deployer",
    )
    parser.add_argument("--digest", help="refuse unless the environment runs this digest")
    parser.add_argument("--reason")
    add_release_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from lockgate.commands._project import load_project
    from lockgate.delivery.ledger.releases import current
    from lockgate.delivery.promotion.deployers import deployer_for
    from lockgate.delivery.promotion.health import record_health, release_to_check
    from lockgate.delivery.promotion.rules import environment_rules

    project = load_project(args)
    rules = environment_rules(project.pipeline, project.root, args.environment)
    store = open_store(project, args)
    # the statement names the release the verdict is about and the verdict (or that the
    # deployer gives it): signed for one, it proves neither the other mark nor a later release
    release = release_to_check(current(store.entries(), rules.name), rules.name, args.digest)
    terms = (("mark", args.mark or "deployer"),)
    if args.print_statement:
        return print_statement(store, "health", args.environment, release.digest, terms)
    actor = proven_actor(project, args, store, "health", args.environment, release.digest, terms)
    outcome = record_health(
        store,
        deployer_for(rules.deployer, project.root, project.pipeline),
        rules,
        actor,
        mark=args.mark,
        digest=release.digest,
        reason=args.reason,
    )
    checkpoint_if_due(project, args, store)
    return report(outcome, args.json)
