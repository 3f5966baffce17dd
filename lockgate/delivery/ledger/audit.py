"""``lockgate audit verify``: is the ledger complete and untampered?

Checks, in one pass: every line parses and its hash matches its bytes (edit), seqs run 1, 2, 3
without gaps or swaps (delete, reorder), each entry names its predecessor's hash (splice), times
never go backwards, signatures verify where a public key is given, and the last entry is the one
the head anchor records (truncate, forged append, rewritten chain).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lockgate.delivery.ledger.entry import GENESIS, LineError, read_chain, read_line
from lockgate.delivery.ledger.ledger import HEAD_FILE, LEDGER_FILE, LedgerError, read_head

SignatureCheck = Callable[[bytes, str], bool]


@dataclass(frozen=True)
class AuditReport:
    entries: int
    problems: tuple[str, ...] = ()
    first_bad_seq: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems


def audit_ledger(folder: Path, check_signature: SignatureCheck | None = None) -> AuditReport:
    ledger = folder / LEDGER_FILE
    try:
        head = read_head(folder)
    except LedgerError as exc:
        return AuditReport(0, (str(exc),), 1)
    data = ledger.read_bytes() if ledger.exists() else b""
    if head is None:
        if not data:
            return AuditReport(0, notes=("the ledger is empty",))
        return AuditReport(0, (f"{folder / HEAD_FILE}: the head anchor is missing",), 1)

    problems: list[str] = []
    notes: list[str] = []
    first_bad: int | None = None
    prev_hash, prev_time, expected, offset = GENESIS, "", 1, 0

    def bad(seq: int, message: str) -> None:
        nonlocal first_bad
        if first_bad is None:
            first_bad = seq
        problems.append(f"entry {seq}: {message}")

    lines = data.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline
    for index, line in enumerate(lines):
        if offset >= head.size and first_bad is None:
            if head.pending and offset == head.size:
                if check_signature is not None and not _signed_line(line, check_signature):
                    bad(expected, "a pending append that is not signed with the given key")
                    break
                notes.append(f"entry {expected} is a pending append; the next write completes it")
                break
            bad(
                expected,
                f"written after the head anchor (which ends at entry {head.seq}): "
                "appended outside lockgate",
            )
            break
        offset += len(line) + 1
        try:
            seq, prev, when, digest_hex = read_chain(line)
        except LineError as exc:
            bad(expected, f"edited: {exc}")
            break
        if seq != expected:
            later = _seqs(lines[index + 1 :])
            what = (
                "missing (deleted)"
                if seq > expected and expected not in later
                else "out of order (reordered)"
            )
            where = f", and entry {expected} comes later" if expected in later else ""
            bad(expected, f"{what}: found entry {seq} where entry {expected} belongs{where}")
            break
        if prev != prev_hash:
            bad(
                seq - 1,
                f"rewritten: entry {seq} records a different hash for it "
                "(its content changed and was re-hashed, or entries were spliced)",
            )
            break
        if when < prev_time:
            bad(seq, f"time {when} is before the previous entry's {prev_time}")
            break
        if check_signature is not None:
            entry = read_line(line)
            if entry.signature is None:
                bad(seq, "not signed")
                break
            if not check_signature(entry.signed_payload(), entry.signature):
                bad(seq, "signature does not verify with the given public key")
                break
        prev_hash, prev_time, expected = digest_hex, when, expected + 1

    if not problems:
        if torn and not head.pending:
            bad(expected, "an incomplete last line (torn write) outside any pending append")
        last = expected - 1
        if last < head.seq:
            bad(
                last + 1,
                f"missing: the ledger ends at entry {last}, the head anchor records "
                f"entry {head.seq} (truncated)",
            )
        elif last == head.seq and prev_hash != head.hash:
            bad(
                last,
                "the chain ends in a different hash than the head anchor records: "
                "entries were rewritten",
            )
        signed = head.signature is not None and check_signature is not None
        if (
            check_signature is not None
            and not problems
            and not (signed and check_signature(head.anchor_payload(), str(head.signature)))
        ):
            problems.append("the head anchor's signature does not verify")
    return AuditReport(expected - 1, tuple(problems), first_bad, tuple(notes))


def _signed_line(line: bytes, check: SignatureCheck) -> bool:
    try:
        entry = read_line(line)
    except LineError:
        return False
    return entry.signature is not None and check(entry.signed_payload(), entry.signature)


def _seqs(lines: list[bytes]) -> set[int]:
    """The seqs the given lines claim (unreadable lines skipped): tells a swap from a deletion."""
    out = set()
    for line in lines:
        try:
            out.add(read_chain(line)[0])
        except LineError:
            continue
    return out
