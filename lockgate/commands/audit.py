"""lockgate audit verify: the ledger is complete and untampered (names the first bad entry)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lockgate.commands._options import (
    add_json_argument,
    add_ledger_argument,
    add_spec_argument,
    print_json,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("verify",))
    add_ledger_argument(parser)
    parser.add_argument(
        "--public-key",
        type=Path,
        metavar="PEM",
        help="also require every entry and the head to be signed by this key",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="check every entry again, not only those added since this machine's last passing "
        "audit of the ledger (a passing full audit is recorded as usual)",
    )
    add_spec_argument(parser)
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    from lockgate.delivery.ledger.audit import audit_ledger
    from lockgate.delivery.ledger.audited import UNSIGNED, AuditRecord
    from lockgate.delivery.ledger.signatures import default_workers

    if args.ledger is not None:
        folder = args.ledger
    else:
        from lockgate.commands._project import load_project
        from lockgate.commands._release import open_store

        project = load_project(args)
        folder = open_store(project, args).folder
    check, key_id = None, UNSIGNED
    if args.public_key:
        from lockgate.delivery.ledger.signing import load_checker, public_key_id

        check, key_id = load_checker(args.public_key), public_key_id(args.public_key)
    result = audit_ledger(
        folder,
        check,
        record=AuditRecord(folder, key_id),
        skip_audited=not args.full,
        workers=default_workers(),
    )
    if args.json:
        print_json(
            {
                "ok": result.ok,
                "ledger": str(folder),
                "entries": result.entries,
                "unchanged_since_last_audit": result.unchanged,
                "first_bad_seq": result.first_bad_seq,
                "problems": list(result.problems),
                "notes": list(result.notes),
            }
        )
        return 0 if result.ok else 1
    for note in result.notes:
        print(f"note: {note}")
    if result.ok:
        print(f"ok: {result.entries} entries, chain and head anchor intact ({folder})")
        if result.unchanged:
            print(
                f"entries 1-{result.unchanged} are byte for byte those this machine audited "
                f"before; entries after them and the head were checked now (--full: all again)"
            )
        return 0
    import sys

    print(f"ledger {folder} FAILED audit; first bad entry: {result.first_bad_seq}", file=sys.stderr)
    for problem in result.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1
