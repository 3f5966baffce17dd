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
    add_spec_argument(parser)
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    from lockgate.delivery.audit import audit_ledger

    if args.ledger is not None:
        folder = args.ledger
    else:
        from lockgate.commands._project import load_project
        from lockgate.commands._release import open_store

        project = load_project(args)
        folder = open_store(project, args).folder
    check = None
    if args.public_key:
        from lockgate.delivery.signing import load_checker

        check = load_checker(args.public_key)
    result = audit_ledger(folder, check)
    if args.json:
        print_json(
            {
                "ok": result.ok,
                "ledger": str(folder),
                "entries": result.entries,
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
        return 0
    import sys

    print(f"ledger {folder} FAILED audit; first bad entry: {result.first_bad_seq}", file=sys.stderr)
    for problem in result.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1
