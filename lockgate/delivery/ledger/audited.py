"""What this machine has already audited of a ledger, so that the next audit checks only what
was added since.

After an audit passes, lockgate records the audited prefix of ``ledger.jsonl``: its size, the
sha256 of those bytes, and the last entry's seq, hash and time. The next audit of the same ledger
with the same key hashes that many bytes of the file in one call; when they are unchanged, every
check on them (hashes, chain, seqs, times, signatures) would give the same answer as last time,
so the walk starts after them. Everything after the prefix, the end of the chain and the head
anchor (its signature included) is checked in full every time. ``lockgate audit verify --full``
ignores the record.

The record is trusted like the witness next to it: it lives with the account that runs the
audit (``$LOCKGATE_WITNESS_DIR/audited``, else ``$XDG_STATE_HOME/lockgate/witness/audited``),
never in the ledger store, and one is kept per ledger folder and public key (an unsigned audit has
its own, which never stands in for a signed one). A record that cannot be read is ignored: the
audit then checks everything.

The same file also names this machine's parsed copy of a prefix (``parsed``: :mod:`.parsed`),
so that copy is exactly as trusted as the record: a copy the record does not name is never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lockgate.delivery.ledger.witness import witness_dir

UNSIGNED = "unsigned"
READ_UNSIGNED = "unsigned-read"  # a gate's read of an unsigned ledger: lines hash-checked only


@dataclass(frozen=True)
class AuditedPrefix:
    """The first ``size`` bytes of ``ledger.jsonl`` (sha256 ``digest``) passed an audit; they end
    with entry ``seq`` (hash ``hash``, time ``time``)."""

    size: int
    digest: str
    seq: int
    hash: str
    time: str


class AuditRecord:
    """The last audited prefix of the ledger in ``ledger_folder`` under one key."""

    def __init__(self, ledger_folder: Path, key_id: str, folder: Path | None = None) -> None:
        self.ledger_folder = ledger_folder.resolve()
        self.key_id = key_id
        name = hashlib.sha256(f"{self.ledger_folder}\0{key_id}".encode()).hexdigest()[:32]
        self.path = (folder or witness_dir() / "audited") / f"{name}.json"
        self.matched: AuditedPrefix | None = None  # the prefix the last check found unchanged
        # whether this machine had read the ledger under this key before this process: a
        # first read keeps no parsed copy (a fresh CI runner would never read it again)
        self.seen_before = self.path.exists()

    def unchanged_prefix(self, data: bytes, committed: int) -> AuditedPrefix | None:
        """The recorded prefix if ``data`` still starts with exactly those bytes (and the head
        still commits at least that much), else None."""
        self.matched = None
        prefix = self._read()
        if prefix is None or not 0 < prefix.size <= min(committed, len(data)):
            return None
        if hashlib.sha256(memoryview(data)[: prefix.size]).hexdigest() != prefix.digest:
            return None
        self.matched = prefix
        return prefix

    def record(
        self,
        data: bytes,
        size: int,
        seq: int,
        last_hash: str,
        time: str,
        keep_parsed: bool = True,
    ) -> None:
        """Remember that ``data[:size]`` passed; a read-only account records nothing. Without
        ``keep_parsed`` (a ``--full`` audit) the parsed copy the record named is forgotten."""
        matched = self.matched  # the bytes this audit found unchanged: not hashed again
        if matched is not None and matched.size == size:
            digest = matched.digest
        else:
            digest = hashlib.sha256(memoryview(data)[:size]).hexdigest()
        fields = asdict(AuditedPrefix(size, digest, seq, last_hash, time))
        self._write(fields, keep="parsed" if keep_parsed else ())

    def parsed(self) -> dict[str, Any] | None:
        """What the record says of this machine's parsed copy of a prefix (:mod:`.parsed`)."""
        raw = self._raw()
        found = raw.get("parsed") if raw is not None else None
        return found if isinstance(found, dict) else None

    def name_parsed(self, parsed: dict[str, Any]) -> None:
        """Name a new parsed copy, keeping what the record says of the audit."""
        self._write({"parsed": parsed}, keep=tuple(AuditedPrefix.__dataclass_fields__))

    def _write(self, fields: dict[str, Any], keep: str | tuple[str, ...]) -> None:
        """Replace the record with ``fields``, carrying over the ``keep`` fields it holds."""
        old = self._raw() or {}
        kept = {k: old[k] for k in ((keep,) if isinstance(keep, str) else keep) if k in old}
        body = {"ledger": str(self.ledger_folder), "key": self.key_id, **kept, **fields}
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(body, f, sort_keys=True)
            os.replace(tmp, self.path)

    def _raw(self) -> dict[str, Any] | None:
        """The record's fields, when it is this ledger's under this key."""
        try:
            raw = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict):
            return None
        if raw.get("ledger") != str(self.ledger_folder) or raw.get("key") != self.key_id:
            return None
        return raw

    def _read(self) -> AuditedPrefix | None:
        raw = self._raw()
        if raw is None:
            return None
        try:
            return AuditedPrefix(
                int(raw["size"]),
                str(raw["digest"]),
                int(raw["seq"]),
                str(raw["hash"]),
                str(raw["time"]),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
