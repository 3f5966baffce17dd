"""lockgate audit verify: the ledger is complete and untampered (names the first bad entry).
lockgate audit checkpoint: the same audit with the ledger's key, then a signed entry saying so,
so that machines that never audited the ledger skip the signatures it covers."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockgate.commands._project import Project
    from lockgate.delivery.ledger.checkpoint import Checkpoint
    from lockgate.delivery.ledger.store import LedgerStore
    from lockgate.delivery.ledger.verification import KeyChecker

from lockgate.commands._options import (
    add_json_argument,
    add_ledger_argument,
    add_signing_key_argument,
    add_spec_argument,
    print_json,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("verify", "checkpoint"))
    add_ledger_argument(parser)
    parser.add_argument(
        "--public-key",
        type=Path,
        metavar="PEM",
        help="also require every entry and the head to be signed by this key "
        "(checkpoint: default policy.ledger.public_key, else the --signing-key's public half)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="check every entry and every signature again: neither this machine's last passing "
        "audit nor a signed checkpoint in the ledger stands in for them (a passing full audit "
        "is recorded as usual)",
    )
    parser.add_argument(
        "--min-new",
        type=int,
        default=1,
        metavar="N",
        help="checkpoint: write one only when at least N entries follow the last checkpoint "
        "(for a scheduled job; default 1)",
    )
    add_signing_key_argument(parser, "checkpoints: the ledger's own key")
    add_spec_argument(parser)
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    if args.what == "checkpoint":
        return _checkpoint(args)
    return _verify(args)


def _verify(args: argparse.Namespace) -> int:
    from lockgate.delivery.ledger.audit import audit_ledger
    from lockgate.delivery.ledger.audited import UNSIGNED, AuditRecord
    from lockgate.delivery.ledger.signatures import default_workers
    from lockgate.delivery.ledger.signing import load_checker, public_key_id

    public_key = args.public_key
    if args.ledger is not None:
        folder = args.ledger
        if not folder.is_dir():
            from lockgate.errors import LockgateError

            raise LockgateError(
                f"--ledger {folder}: no such folder; name the folder that holds ledger.jsonl "
                "and ledger.head"
            )
    else:
        from lockgate.commands._project import load_project
        from lockgate.commands._release import ledger_key_path, open_store

        project = load_project(args)
        folder = open_store(project, args).folder
        named = project.pipeline.policy.ledger.public_key
        if public_key is None and named:  # a signed ledger is audited as its gates read it
            public_key = ledger_key_path(project, named)
    check, key_id = None, UNSIGNED
    if public_key:
        check, key_id = load_checker(public_key), public_key_id(public_key)
    result = audit_ledger(
        folder,
        check,
        record=AuditRecord(folder, key_id),
        skip_audited=not args.full,
        workers=default_workers(),
        checkpoints=not args.full,
    )
    if args.json:
        print_json(
            {
                "ok": result.ok,
                "ledger": str(folder),
                "entries": result.entries,
                "unchanged_since_last_audit": result.unchanged,
                "vouched_by_checkpoint": _vouched_json(result.checkpoint),
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
        if result.checkpoint is not None:
            print(_vouched_line(result.checkpoint))
        return 0
    import sys

    print(f"ledger {folder} FAILED audit; first bad entry: {result.first_bad_seq}", file=sys.stderr)
    for problem in result.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _vouched_line(found: Checkpoint) -> str:
    return (
        f"the signatures of entries 1-{found.through} were not checked again: the signed "
        f"checkpoint at entry {found.seq} ({found.time}) vouches for them; every line's hash "
        "and link were checked (--full checks every signature too)"
    )


def _vouched_json(found: Checkpoint | None) -> dict[str, object] | None:
    if found is None:
        return None
    return {"checkpoint": found.seq, "through": found.through, "time": found.time}


def _checkpoint(args: argparse.Namespace) -> int:
    """Audit with the ledger's key; when it passes, append a checkpoint signed with that key."""
    import sys

    from lockgate.delivery.ledger.signatures import default_workers
    from lockgate.delivery.ledger.signing import checker_of_private, load_checker
    from lockgate.delivery.ledger.vouch import write_checkpoint
    from lockgate.errors import LockgateError

    if not args.signing_key:
        raise LockgateError(
            "audit checkpoint: no signing key: pass --signing-key PEM (or set "
            "LOCKGATE_SIGNING_KEY) with the ledger's Ed25519 private key; a checkpoint is "
            "trusted because that key signs it"
        )
    if args.min_new < 1:
        raise LockgateError(f"audit checkpoint: --min-new {args.min_new}: give 1 or more")
    signer_key = checker_of_private(Path(args.signing_key))
    project, spec_key = _spec_key(args)
    given = load_checker(args.public_key) if args.public_key else None
    if spec_key is not None and given is not None and given.key_id != spec_key.key_id:
        raise LockgateError(
            f"audit checkpoint: --public-key {args.public_key} is not the spec's "
            f"policy.ledger.public_key ({spec_key.key_id}): the ledger's audits verify with the "
            "spec's key; drop --public-key"
        )
    check = spec_key or given or signer_key
    if check.key_id != signer_key.key_id:
        where = "policy.ledger.public_key" if spec_key is not None else "--public-key"
        raise LockgateError(
            f"audit checkpoint: --signing-key {args.signing_key} is not the private half of "
            f"the key in {where} ({check.key_id}): a checkpoint must be signed with the key "
            "the ledger's audits verify with"
        )
    store = _open_for_checkpoint(args, project, check)
    done = write_checkpoint(
        store, check, full=args.full, workers=default_workers(), min_new=args.min_new
    )
    report, folder = done.report, store.folder
    if not report.ok:
        print(
            f"ledger {folder} FAILED audit; first bad entry: {report.first_bad_seq}; "
            "no checkpoint was written",
            file=sys.stderr,
        )
        for problem in report.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    if args.json:
        print_json(
            {
                "ok": True,
                "ledger": str(folder),
                "written": done.written.seq if done.written else None,
                "through": done.through,
                "signatures_checked_from": done.checked_from if done.written else None,
            }
        )
        return 0
    if done.written is None:
        print(
            f"ok: {report.entries} entries, chain and head anchor intact; fewer than "
            f"{args.min_new} follow the last checkpoint, so nothing was written"
        )
        return 0
    if report.checkpoint is not None:
        print(_vouched_line(report.checkpoint))
    print(
        f"entry {done.written.seq}: checkpoint: an audit with {check.key_id} passed entries "
        f"1-{done.through}; audits without --full no longer check their signatures ({folder})"
    )
    return 0


def _spec_key(args: argparse.Namespace) -> tuple[Project | None, KeyChecker | None]:
    """The project (None with --ledger) and the key its spec names for the ledger (None when it
    names none)."""
    if args.ledger is not None:
        return None, None
    from lockgate.commands._project import load_project
    from lockgate.commands._release import ledger_key_path
    from lockgate.delivery.ledger.signing import load_checker

    project = load_project(args)
    public = project.pipeline.policy.ledger.public_key
    return project, load_checker(ledger_key_path(project, public)) if public else None


def _open_for_checkpoint(
    args: argparse.Namespace, project: Project | None, check: KeyChecker
) -> LedgerStore:
    """The store to append to: the project's, synced, or the --ledger folder."""
    from lockgate.delivery.ledger.audited import AuditRecord
    from lockgate.delivery.ledger.ledger import FileLedger
    from lockgate.delivery.ledger.signing import load_signer
    from lockgate.delivery.ledger.witness import Witness

    if project is None:
        folder = args.ledger
        return FileLedger(
            folder,
            signer=load_signer(Path(args.signing_key)),
            checker=check,
            witness=Witness(folder),
            audited=AuditRecord(folder, check.key_id),
        )
    from lockgate.commands._release import open_store

    return open_store(project, args)
