"""lockgate history ENV [--at TIME] [--json]: what was released to ENV, or what ran there at a
given time, from the ledger."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from lockgate.commands._options import add_ledger_argument
from lockgate.commands._release import add_release_arguments, open_store

if TYPE_CHECKING:
    from lockgate.delivery.ledger.store import LedgerStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("environment")
    parser.add_argument("--at", metavar="TIME", help="e.g. 2026-11-20T10:00Z (UTC unless given)")
    add_ledger_argument(parser)
    add_release_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from lockgate.commands._project import load_project
    from lockgate.delivery.ledger.entry import format_time, parse_time
    from lockgate.delivery.promotion.rules import environment_rules
    from lockgate.errors import LockgateError

    if args.ledger is not None:
        from lockgate.delivery.ledger.ledger import FileLedger

        if not args.ledger.is_dir():
            raise LockgateError(
                f"--ledger {args.ledger}: no such folder; name the folder that holds "
                "ledger.jsonl and ledger.head"
            )
        store: LedgerStore = FileLedger(args.ledger)
        signed = False
    else:
        project = load_project(args)
        environment_rules(project.pipeline, project.root, args.environment)
        store = open_store(project, args, sync=False)
        signed = bool(project.pipeline.policy.ledger.public_key or args.signing_key)
    if args.at is not None:
        from lockgate.delivery.ledger.timeline import release_at, release_in

        try:
            at = format_time(parse_time(args.at))
        except ValueError:
            raise LockgateError(
                f"--at {args.at!r}: expected a time like 2026-11-20T10:00Z"
            ) from None
        if signed:  # read as every gate reads it (signatures, head, witness), not from the index
            release, upto = release_in(store.entries(), args.environment, at)
        else:
            release, upto = release_at(store.folder, args.environment, at)
        if args.json:
            print(
                json.dumps(
                    {
                        "environment": args.environment,
                        "at": at,
                        "release": release,
                        "ledger_seq": upto,
                    },
                    indent=2,
                    sort_keys=True,
                )
            )
        elif release is None:
            print(f"{args.environment} at {at}: nothing released yet (ledger up to entry {upto})")
        else:
            health = {True: "healthy", False: "unhealthy", None: "health not checked"}
            print(f"{args.environment} at {at}: {release['image'] or release['digest']}")
            print(
                f"  model {release['model'] or '-'}; {release['action']} at {release['time']} "
                f"by {release['actor']} (entry {release['seq']}); {health[release['healthy']]}"
            )
        return 0
    rows = [e for e in store.entries() if e.environment == args.environment]
    if args.json:
        print(json.dumps([e.body() | {"hash": e.hash} for e in rows], indent=2, sort_keys=True))
        return 0
    for e in rows:
        what = e.image or e.digest or "-"
        print(
            f"{e.seq:>6}  {e.time}  {e.action:<9} {what}  {e.model or '-'}  {e.actor}"
            + (f"  — {e.reason}" if e.reason else "")
        )
    if not rows:
        print(f"{args.environment}: no entries in the ledger")
    return 0
