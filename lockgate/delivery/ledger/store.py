"""Where the ledger lives: the embedded store (``.lockgate/ledger/``) or a git branch shared by
the team (:mod:`lockgate.delivery.ledger.gitledger`). Both offer the same small interface."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lockgate.delivery.ledger.audited import READ_UNSIGNED, AuditRecord
from lockgate.delivery.ledger.entry import Draft, Entry
from lockgate.delivery.ledger.head import Checker
from lockgate.delivery.ledger.ledger import Clock, FileLedger, Signer, utc_now
from lockgate.delivery.ledger.witness import RolledBack, Witness

if TYPE_CHECKING:
    from lockgate.spec.models import Pipeline

LEDGER_DIR = Path(".lockgate") / "ledger"


class LedgerStore(Protocol):
    folder: Path  # a local folder holding the ledger files (a mirror, for the git store)
    clock: Callable[[], datetime]

    def append(self, draft: Draft) -> Entry: ...

    def entries(self) -> list[Entry]: ...


def open_ledger(
    pipeline: Pipeline,
    spec_root: Path,
    *,
    clock: Clock = utc_now,
    signer: Signer | None = None,
    notice: Callable[[str], None] = lambda message: None,
    sync: bool = True,
    checker: Checker | None = None,
) -> LedgerStore:
    """The store the spec's ``policy.ledger`` names; the git store fetches first unless
    ``sync`` is false (reads that may be a little behind, e.g. ``history`` offline). With a
    ``checker`` (the ledger's public key) every entry and head must verify and writers must
    sign, and what this machine's audit record vouches for is not checked again
    (:mod:`.signed_read`); a witness outside the store refuses a head older than one seen on this
    machine."""
    config = pipeline.policy.ledger
    folder = spec_root / LEDGER_DIR
    witness = Witness(folder)
    key_id = getattr(checker, "key_id", None)  # a KeyChecker names its key; a bare function not
    # signed: what passed an audit with the key; unsigned: what a read hash-checked (never an audit)
    audited = AuditRecord(folder, key_id or READ_UNSIGNED) if key_id or checker is None else None
    if config.store == "git":
        from lockgate.delivery.ledger.gitledger import GitLedger

        store = GitLedger(
            spec_root,
            folder,
            branch=config.branch,
            remote=config.remote,
            clock=clock,
            signer=signer,
            notice=notice,
            checker=checker,
            witness=witness,
            audited=audited,
        )
        if sync:
            try:
                store.fetch()
            except RolledBack:
                raise  # a remote that went back in time is never read past
            except Exception:  # offline: the mirror answers, a little behind
                pass
        return store
    return FileLedger(
        folder,
        clock=clock,
        signer=signer,
        notice=notice,
        checker=checker,
        witness=witness,
        audited=audited,
    )
