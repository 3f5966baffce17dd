"""This machine's parsed copy of a ledger prefix, so that a command parses only what follows it.

Every command that decides on a ledger (promote, approve, history, the release page) needs its
entries; parsing 100,000 lines of JSON costs more than everything else such a read does once the
audit record (:mod:`.audited`) lets the audit skip an unchanged prefix. After a read, lockgate
keeps the entries it accepted in a file beside the audit record (``<record>.parsed``, mode 0600):
a header line (the format, the ledger folder, the key, the prefix's byte length, sha256, last seq
and hash) and each entry's fields in Python's ``marshal`` encoding. The audit record names the
file by its own sha256, with the prefix it holds, so the copy is exactly as trusted as the record
and never more: a copy the record does not name, one from another ledger or key, another format
(a lockgate or Python whose encoding differs), a damaged or cut file, or a prefix whose bytes on
disk no longer hash to what was recorded is ignored, and the read parses every line (and keeps a
new copy). The bytes are checked the same way each time (one sha256 over the prefix, shared with
the audit when the prefixes are the same), the copy once (one sha256 over the file).

A signed ledger is still audited in full on every read (the audit record, not this copy, decides
what is checked again); the copy only replaces parsing lines that passed. An unsigned ledger's
read, which hash-checks its lines, trusts the copy for a prefix it hash-checked before, under its
own record (``unsigned-read``, never taken for an audit).

Written atomically (temp file, ``os.replace``), one per ledger folder and key, from the second
process that reads the ledger on this machine on (the first, a fresh CI runner's only one, would
never read it), only while the ledger is at most :data:`MAX_BYTES` long, and rewritten only when
more than :data:`REWRITE_AFTER` entries follow it (a read parses at most that many lines
besides). Entries hold no secrets:
a ledger entry is public within the project, and the copy holds nothing else.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import marshal
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lockgate.delivery.ledger.audited import AuditRecord
from lockgate.delivery.ledger.entry import Entry

FORMAT = "lockgate-parsed/2 marshal/{} python/{}.{}".format(marshal.version, *sys.version_info[:2])
REWRITE_AFTER = 2_000  # entries parsed beyond the copy before it is written again
MAX_BYTES = 512 * 2**20  # ledgers longer than this keep no copy (it would be about as large)
FIELDS = tuple(Entry.__dataclass_fields__)


def parsed_path(record: AuditRecord) -> Path:
    return record.path.with_suffix(".parsed")


def load(record: AuditRecord, data: bytes, committed: int) -> tuple[int, list[Entry]] | None:
    """(the prefix's length, its entries) when the copy the record names still holds a prefix of
    ``data`` (within the ``committed`` bytes), else None."""
    named = record.parsed()
    try:
        if named is None or named.get("format") != FORMAT:
            return None
        size, digest = int(named["size"]), str(named["digest"])
        if not 0 < size <= min(committed, len(data)) or data[size - 1 : size] != b"\n":
            return None
        matched = record.matched  # the prefix the audit just hashed: not hashed twice
        shared = matched is not None and (matched.size, matched.digest) == (size, digest)
        if not shared and hashlib.sha256(memoryview(data)[:size]).hexdigest() != digest:
            return None
        raw = parsed_path(record).read_bytes()
        if hashlib.sha256(raw).hexdigest() != named["file"]:
            return None
        header, _, body = raw.partition(b"\n")
        if json.loads(header) != _header(record, named):
            return None
        return size, _entries(marshal.loads(body), int(named["seq"]), str(named["hash"]))
    except (OSError, ValueError, KeyError, TypeError, EOFError, AttributeError):
        return None


def keep(
    record: AuditRecord, data: bytes, entries: Sequence[Entry], had: int | None = None
) -> None:
    """Keep ``entries`` (those of all of ``data``) as the parsed copy, unless the copy that was
    used (``had`` bytes of it) is recent enough, the ledger too long, or this is the first time
    this machine reads the ledger under this key (a fresh CI runner's only read: writing the
    copy would cost more than it saves; the second read keeps it); a read-only account keeps
    nothing."""
    if not record.seen_before:
        return
    if not entries or len(data) > MAX_BYTES or data[-1:] != b"\n":
        return
    if had is not None and data.count(b"\n", had) <= REWRITE_AFTER:
        return
    last = entries[-1]
    named = {
        "format": FORMAT,
        "size": len(data),
        "digest": hashlib.sha256(data).hexdigest(),
        "seq": last.seq,
        "hash": last.hash,
    }
    paused = gc.isenabled()
    gc.disable()
    try:
        body = marshal.dumps([e.__dict__ for e in entries])
    finally:
        if paused:
            gc.enable()
    raw = json.dumps(_header(record, named), sort_keys=True).encode() + b"\n" + body
    path = parsed_path(record)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, path)
        record.name_parsed({**named, "file": hashlib.sha256(raw).hexdigest()})


def _header(record: AuditRecord, named: dict[str, Any]) -> dict[str, Any]:
    """What the copy's first line says it is: bound to the ledger, the key and the prefix."""
    return {
        "format": FORMAT,
        "ledger": str(record.ledger_folder),
        "key": record.key_id,
        **{k: named[k] for k in ("size", "digest", "seq", "hash")},
    }


def _entries(rows: Any, seq: int, last_hash: str) -> list[Entry]:
    """Entries from the copy's rows; a copy that does not end where its header says is refused."""
    if not isinstance(rows, list) or len(rows) != seq:
        raise ValueError("the parsed copy does not hold the entries it names")
    paused = gc.isenabled()
    gc.disable()  # every object built here is kept; see signed_read._parse_checked
    try:
        out = []
        new, put, width = object.__new__, object.__setattr__, len(FIELDS)
        for row in rows:
            if type(row) is not dict or len(row) != width:
                raise ValueError("the parsed copy holds something that is not an entry")
            entry = new(Entry)
            put(entry, "__dict__", row)  # the row is the entry's own fields, as it was written
            out.append(entry)
    finally:
        if paused:
            gc.enable()
    if out and (out[-1].seq, out[-1].hash) != (seq, last_hash):
        raise ValueError("the parsed copy does not end with the entry it names")
    return out
