"""The embedded ledger: ``ledger.jsonl`` (hash-chained entries) and ``ledger.head`` (an anchor
holding the last committed entry's seq, hash and the file's size), in one folder.

Appending, under an exclusive ``fcntl`` lock on ``ledger.lock``:

1. write the head with ``pending`` = the new entry's seq, hash and size (temp file, fsync,
   ``os.replace``);
2. append the entry's line to ``ledger.jsonl`` and fsync;
3. write the head with the new entry committed and no ``pending``.

A crash between any two steps is recovered by the next writer, under the lock: a complete pending
line is committed (roll forward), a torn one is cut off (roll back), each with a notice. Bytes
beyond the head that no pending append explains were written outside lockgate: the ledger refuses
to append until ``lockgate audit verify`` has been looked at. Readers take no lock: they read the
head, then only the committed bytes before ``head.size``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lockgate.delivery.ledger.audited import AuditRecord
from lockgate.delivery.ledger.entry import (
    Draft,
    Entry,
    LineError,
    format_time,
    read_line,
    seal,
)
from lockgate.delivery.ledger.head import (
    HEAD_FILE,
    LEDGER_FILE,
    Checker,
    Head,
    LedgerError,
    head_verifies,
    read_head,
    write_atomic,
)
from lockgate.delivery.ledger.signed_read import (
    LastRead,
    parse_with_copy,
    read_lines,
    read_signed,
)
from lockgate.delivery.ledger.witness import Witness

__all__ = ["HEAD_FILE", "LEDGER_FILE", "FileLedger", "Head", "LedgerError", "read_head"]

LOCK_FILE = "ledger.lock"


Signer = Callable[[bytes], str]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class FileLedger:
    """An append-only ledger in ``folder`` on this machine's disk."""

    def __init__(
        self,
        folder: Path,
        *,
        clock: Clock = utc_now,
        signer: Signer | None = None,
        notice: Callable[[str], None] = lambda message: None,
        checker: Checker | None = None,
        witness: Witness | None = None,
        audited: AuditRecord | None = None,
    ) -> None:
        self.folder = folder
        self.clock = clock
        self.signer = signer
        self.notice = notice
        self.checker = checker  # set: a signed ledger; every entry and head must verify
        self.witness = witness  # set: refuse a head older than the newest seen here
        self.audited = audited  # this machine's record of what passed under ``checker``
        self._last: LastRead | None = None  # this process's last accepted read (in memory only)

    @property
    def path(self) -> Path:
        return self.folder / LEDGER_FILE

    @contextlib.contextmanager
    def locked(self) -> Iterator[Head]:
        """Hold the writers' lock, with any interrupted append recovered; yields the head."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / LOCK_FILE, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                head = self._recover()
                if self.witness is not None:
                    self.witness.check(head.seq, head.hash)
                yield head
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def append(self, draft: Draft) -> Entry:
        with self.locked() as head:
            return self.append_locked(head, draft)

    def append_locked(self, head: Head, draft: Draft) -> Entry:
        """Append while :meth:`locked` is held (for a decision and its record under one lock)."""
        if self.signer is None and (self.checker is not None or head.signature):
            raise LedgerError(
                f"{self.folder}: this ledger is signed (policy.ledger.public_key, or a signed "
                "head) and nothing unsigned may enter it: pass --signing-key (or set "
                "LOCKGATE_SIGNING_KEY)"
            )
        now = format_time(self.clock())
        entry = seal(draft, head.seq + 1, max(now, head.time), head.hash, self.signer)
        line = entry.line()
        size = head.size + len(line)
        pending: dict[str, Any] = {"seq": entry.seq, "hash": entry.hash, "size": size}
        self._write_head(Head(head.seq, head.hash, head.size, head.time, pending))
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._write_head(Head(entry.seq, entry.hash, size, entry.time))
        if self.witness is not None:
            self.witness.record(entry.seq, entry.hash)
        return entry

    def head(self) -> Head:
        return read_head(self.folder) or Head()

    def committed_bytes(self) -> tuple[Head, bytes]:
        head = self.head()
        if head.size == 0:
            return head, b""
        with open(self.path, "rb") as f:
            data = f.read(head.size)
        if len(data) < head.size:
            raise LedgerError(
                f"{self.path}: truncated: the head anchor records {head.size} bytes (entry "
                f"{head.seq}), the file has {len(data)}; run `lockgate audit verify`"
            )
        return head, data

    def entries(self) -> list[Entry]:
        """Every committed entry, hash-checked (use ``lockgate audit verify`` for the chain);
        on a signed ledger checked as an audit with the key would (chain, signatures, head:
        :mod:`.signed_read`), skipping an unchanged prefix ``audited`` records as passed; against
        the witness when there is one. An interrupted append is settled first, so a decision
        sees what its record will follow. A later read in the same process checks and parses
        only what was committed after the last one (:class:`.signed_read.LastRead`)."""
        if self.head().pending and os.access(self.folder, os.W_OK):
            with self.locked():
                pass
        head, data = self.committed_bytes()
        last = self._last
        self._last = None  # kept again only once this read is accepted
        if self.checker is not None:
            out, kept = read_signed(self.path, head, data, self.checker, self.audited, last=last)
        else:
            if last is not None and last.covers(head, data):
                out = read_lines(self.path, data, last)
            else:
                out = parse_with_copy(self.path, data, head.size, self.audited, read_lines)
            kept = LastRead(head, data, tuple(out))
        if self.witness is not None:
            self.witness.check(head.seq, head.hash, {e.seq: e.hash for e in out})
            self.witness.record(head.seq, head.hash)
        self._last = kept
        return out

    def _write_head(self, head: Head) -> None:
        if self.signer is not None:
            head = Head(**{**head.__dict__, "signature": self.signer(head.anchor_payload())})
        write_atomic(self.folder / HEAD_FILE, json.dumps(head.to_json(), sort_keys=True).encode())

    def _recover(self) -> Head:
        head = read_head(self.folder)
        size = self.path.stat().st_size if self.path.exists() else 0
        if head is None:
            if size:
                raise LedgerError(
                    f"{self.folder / HEAD_FILE} is missing but {self.path} has entries: the "
                    "anchor was deleted; restore it from a copy, then run `lockgate audit verify`"
                )
            return Head()
        if self.checker is not None and not head_verifies(head, self.checker):
            raise LedgerError(
                f"{self.folder / HEAD_FILE}: the head anchor's signature does not verify with "
                "policy.ledger.public_key (edited, or signed with another key); run "
                "`lockgate audit verify --public-key`"
            )
        if size == head.size:
            if head.pending:
                self.notice(
                    f"ledger: entry {head.pending['seq']} was never written (interrupted before "
                    "the write); nothing to recover"
                )
                head = Head(head.seq, head.hash, head.size, head.time)
                self._write_head(head)
            return head
        if size < head.size:
            raise LedgerError(
                f"{self.path} is truncated: {size} bytes, the head anchor records {head.size} "
                f"(entry {head.seq}); run `lockgate audit verify` and restore from a copy"
            )
        if not head.pending:
            raise LedgerError(
                f"{self.path} has {size - head.size} bytes after entry {head.seq}, the last one "
                "lockgate committed: written outside lockgate; run `lockgate audit verify`"
            )
        return self._finish_pending(head, size)

    def _finish_pending(self, head: Head, size: int) -> Head:
        pending = head.pending or {}
        with open(self.path, "rb") as f:
            f.seek(head.size)
            tail = f.read()
        try:
            entry = read_line(tail) if tail.endswith(b"\n") else None
        except LineError:
            entry = None
        if entry is not None and entry.hash == pending["hash"] and size == pending["size"]:
            self._check_pending(head, entry)
            self.notice(f"ledger: completed entry {entry.seq}, written before an interruption")
            committed = Head(entry.seq, entry.hash, size, entry.time)
        else:
            self.notice(
                f"ledger: removed a torn entry {pending['seq']} ({size - head.size} bytes) left "
                "by an interrupted write; the ledger ends at entry "
                f"{head.seq} as before"
            )
            with open(self.path, "r+b") as f:
                f.truncate(head.size)
                f.flush()
                os.fsync(f.fileno())
            committed = Head(head.seq, head.hash, head.size, head.time)
        self._write_head(committed)
        return committed

    def _check_pending(self, head: Head, entry: Entry) -> None:
        """A pending line is completed only if it is as trustworthy as the rest: on a signed
        ledger (a checker, or a signed head) an unsigned or wrongly signed line stays out."""
        if self.checker is not None:
            good = entry.signature is not None and self.checker(
                entry.signed_payload(), entry.signature
            )
        else:
            good = head.signature is None or entry.signature is not None
        if not good:
            raise LedgerError(
                f"{self.path}: pending entry {entry.seq} ({entry.action} by {entry.actor}) is "
                f"{'unsigned' if entry.signature is None else 'not signed by the ledger key'} "
                "in a signed ledger: not completed (written outside lockgate); run `lockgate "
                "audit verify --public-key` and remove it"
            )
