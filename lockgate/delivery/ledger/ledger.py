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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lockgate.delivery.ledger.entry import (
    GENESIS,
    Draft,
    Entry,
    LineError,
    format_time,
    read_line,
    seal,
)
from lockgate.errors import LockgateError

LEDGER_FILE = "ledger.jsonl"
HEAD_FILE = "ledger.head"
LOCK_FILE = "ledger.lock"


class LedgerError(LockgateError):
    """The ledger cannot be appended to safely (tampered, truncated, anchor missing)."""


@dataclass(frozen=True)
class Head:
    seq: int = 0
    hash: str = GENESIS
    size: int = 0
    time: str = ""
    pending: dict[str, Any] | None = None
    signature: str | None = None

    def anchor_payload(self) -> bytes:
        return f"lockgate-ledger-head:{self.seq}:{self.hash}:{self.size}".encode()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seq": self.seq,
            "hash": self.hash,
            "size": self.size,
            "time": self.time,
        }
        if self.pending:
            out["pending"] = self.pending
        if self.signature:
            out["signature"] = self.signature
        return out


def read_head(folder: Path) -> Head | None:
    path = folder / HEAD_FILE
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise LedgerError(f"{path}: the head anchor is not valid JSON ({exc})") from None
    return Head(
        seq=raw["seq"],
        hash=raw["hash"],
        size=raw["size"],
        time=raw.get("time", ""),
        pending=raw.get("pending"),
        signature=raw.get("signature"),
    )


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


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
    ) -> None:
        self.folder = folder
        self.clock = clock
        self.signer = signer
        self.notice = notice

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
                yield self._recover()
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def append(self, draft: Draft) -> Entry:
        with self.locked() as head:
            return self.append_locked(head, draft)

    def append_locked(self, head: Head, draft: Draft) -> Entry:
        """Append while :meth:`locked` is held (for a decision and its record under one lock)."""
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
        """Every committed entry, hash-checked (use ``lockgate audit verify`` for the chain)."""
        _, data = self.committed_bytes()
        out = []
        for line in data.splitlines():
            try:
                out.append(read_line(line))
            except LineError as exc:
                raise LedgerError(
                    f"{self.path}: entry {len(out) + 1}: {exc}; run `lockgate audit verify`"
                ) from None
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
