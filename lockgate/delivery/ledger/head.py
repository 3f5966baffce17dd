"""The ledger's head anchor (``ledger.head``): the last committed entry's seq and hash, the
committed size of ``ledger.jsonl``, an interrupted append (``pending``) and, on a signed ledger,
an Ed25519 signature over all of it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.delivery.ledger.entry import GENESIS, canonical
from lockgate.errors import LockgateError

LEDGER_FILE = "ledger.jsonl"
HEAD_FILE = "ledger.head"

Checker = Callable[[bytes, str], bool]


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
        """What the head's signature covers: every field of the head but the signature itself
        (``pending`` included, so naming an unsigned line as pending breaks the signature)."""
        body = self.to_json()
        body.pop("signature", None)
        return b"lockgate-ledger-head:" + canonical(body)

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
    fields = {"seq": int, "hash": str, "size": int, "time": str, "pending": dict, "signature": str}
    if not isinstance(raw, dict) or any(k not in raw for k in ("seq", "hash", "size")):
        raise LedgerError(
            f"{path}: the head anchor has no seq, hash and size: edited outside lockgate; "
            "restore it from a copy, then run `lockgate audit verify`"
        )
    for key, kind in fields.items():
        value = raw.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise LedgerError(
                f"{path}: the head anchor's {key} is {value!r}, not a{'n' if kind is int else ''} "
                f"{kind.__name__}: edited outside lockgate; restore it from a copy, then run "
                "`lockgate audit verify`"
            )
    return Head(
        seq=raw["seq"],
        hash=raw["hash"],
        size=raw["size"],
        time=raw.get("time", ""),
        pending=raw.get("pending"),
        signature=raw.get("signature"),
    )


def read_consistent(folder: Path, tries: int = 5) -> tuple[Head | None, bytes]:
    """The head anchor and ``ledger.jsonl`` as one writer left them, read without the writers'
    lock (a reader may have no write access): the head is read before and after the file, and
    all three again when a writer committed in between, so an append that lands meanwhile is
    not mistaken for bytes written outside lockgate."""
    path = folder / LEDGER_FILE
    for _ in range(tries):
        head = read_head(folder)
        data = path.read_bytes() if path.exists() else b""
        if read_head(folder) == head:
            break
    return head, data


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


def head_verifies(head: Head, check: Checker) -> bool:
    return head.signature is not None and check(head.anchor_payload(), head.signature)
