"""Reading a signed ledger for a gate decision: what an audit would accept, and no more work.

A gate (promote, approve, rollback, health, history, the release page) reads the committed bytes
of ``ledger.jsonl`` and decides on its entries. On a signed ledger it accepts them only as
``lockgate audit verify --public-key`` would: every line's hash, the chain (seqs, links, times),
every signature, the chain's end against the head anchor and the head's own signature. It is
that audit, run on the bytes the gate read, so it also uses and keeps this machine's audit record
(:mod:`.audited`): a prefix that passed before under the same key and is byte for byte unchanged
(one sha256 over it) is not checked again; everything after it, and the head, always are. Without
a record (a read-only account, another key, a damaged record, a changed byte) every line is
checked. Lines the check has vouched for are parsed without hashing them again.

Within one process (a promotion reads the ledger, appends, reads again) the last read is kept in
memory (:class:`LastRead`): when the committed bytes still start with the bytes it read, only what
follows them is walked, checked and parsed (the head, its signature included, is checked every
time), and an unchanged ledger under an unchanged head is not checked again at all. Nothing of it
is written anywhere. Between processes, the entries of a prefix are taken from this machine's
parsed copy (:mod:`.parsed`) when the audit record names one that still matches the bytes.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lockgate.delivery.ledger import parsed
from lockgate.delivery.ledger.audit import HEAD_NOT_SIGNED, Walk, audit_bytes
from lockgate.delivery.ledger.audited import AuditRecord
from lockgate.delivery.ledger.entry import Entry, LineError, read_line
from lockgate.delivery.ledger.head import HEAD_FILE, Checker, Head, LedgerError
from lockgate.delivery.ledger.signatures import NOT_SIGNED, NOT_VERIFIED, default_workers


@dataclass(frozen=True)
class LastRead:
    """What one read of a ledger accepted: the head, the committed bytes, their entries and, on a
    signed ledger, where the audit's walk ended (to go on from there)."""

    head: Head
    data: bytes
    entries: tuple[Entry, ...]
    walk: Walk | None = None

    def covers(self, head: Head, data: bytes) -> bool:
        """Whether ``data`` under ``head`` starts with the bytes read last time."""
        return len(self.data) <= min(head.size, len(data)) and data.startswith(self.data)


def read_lines(path: Path, data: bytes, last: LastRead | None = None) -> list[Entry]:
    """Every line of ``data`` parsed and hash-checked (an unsigned ledger's read); with ``last``
    (an earlier read whose bytes ``data`` starts with) only the lines after them."""
    out = list(last.entries) if last is not None else []
    for line in data[len(last.data) if last is not None else 0 :].splitlines():
        try:
            out.append(read_line(line))
        except LineError as exc:
            raise LedgerError(
                f"{path}: entry {len(out) + 1}: {exc}; run `lockgate audit verify`"
            ) from None
    return out


def read_signed(
    path: Path,
    head: Head,
    data: bytes,
    check: Checker,
    record: AuditRecord | None = None,
    workers: int | None = None,
    last: LastRead | None = None,
) -> tuple[list[Entry], LastRead | None]:
    """The entries in ``data`` (the committed bytes under ``head``), or a refusal naming the
    first entry (or the head) that an audit with ``check`` would not accept; and what to pass as
    ``last`` to the next read in this process. With ``last``, the bytes it read are not walked or
    parsed again when ``data`` still starts with them."""
    if not data and not head.seq:
        return [], None
    if last is not None and last.head == head and last.data == data:
        return list(last.entries), last  # the same bytes under the same signed head: same answer
    before: tuple[Entry, ...] = ()
    held = None
    if last is not None and last.walk is not None and last.covers(head, data):
        held, before = (last.data, last.walk), last.entries
    report, now, _ = audit_bytes(
        head,
        data,
        check,
        held,
        record=record,
        workers=default_workers() if workers is None else workers,
    )
    if not report.ok:
        raise LedgerError(_refusal(path, data, report.problems[0], report.first_bad_seq))
    if held:
        entries = [*before, *_parse_checked(path, data[len(held[0]) :])]
    else:
        entries = parse_with_copy(path, data, head.size, record, _parse_checked)
    kept = None
    if now is not None and len(now[0]) == len(data):  # every committed line held
        kept = LastRead(head, data, tuple(entries), now[1])
    return entries, kept


def parse_with_copy(
    path: Path,
    data: bytes,
    committed: int,
    record: AuditRecord | None,
    parse: Callable[[Path, bytes], list[Entry]],
) -> list[Entry]:
    """The entries of ``data``: those of the prefix this machine's parsed copy holds
    (:mod:`.parsed`, named by ``record``) and ``parse`` of the lines after it; a new copy is kept
    when there was none or many lines followed it."""
    if record is None:
        return parse(path, data)
    found = parsed.load(record, data, committed)
    had, entries = found if found is not None else (None, [])
    entries.extend(parse(path, data[had or 0 :]))
    parsed.keep(record, data, entries, had)
    return entries


def _parse_checked(path: Path, data: bytes) -> list[Entry]:
    """Lines whose hashes were just checked (or are an unchanged audited prefix), parsed in one
    ``json.loads`` call; any line that will not parse is named by the line-by-line reader.

    The cyclic garbage collector is paused meanwhile: every object built here is kept, and its
    passes over the growing heap cost about as much as the parsing itself on a large ledger."""
    paused = gc.isenabled()
    gc.disable()
    try:
        if not data:
            return []
        rows = json.loads(b"[" + data[:-1].replace(b"\n", b",") + b"]")
        return [Entry.from_body(row, row["hash"]) for row in rows]
    except (ValueError, KeyError, TypeError, AttributeError):
        return read_lines(path, data)
    finally:
        if paused:
            gc.enable()


def _refusal(path: Path, data: bytes, problem: str, seq: int | None) -> str:
    """The gate's message for the audit's first problem, naming the entry as it reads."""
    audit = "run `lockgate audit verify --public-key`"
    if problem == HEAD_NOT_SIGNED:
        return (
            f"{path.parent / HEAD_FILE}: the head anchor's signature does not verify with "
            f"policy.ledger.public_key; {audit}"
        )
    if seq is not None and problem.endswith((NOT_SIGNED, NOT_VERIFIED)):
        lines = data.split(b"\n")
        try:
            entry = read_line(lines[seq - 1])
        except (LineError, IndexError):
            entry = None
        if entry is not None and entry.seq == seq:
            what = (
                "is not signed"
                if problem.endswith(NOT_SIGNED)
                else "has a signature that does not verify"
            )
            return (
                f"{path}: entry {seq} ({entry.action} by {entry.actor}) {what} with "
                f"policy.ledger.public_key: the ledger is signed, so it does not count; {audit}"
            )
    return f"{path}: {problem}; {audit}"
