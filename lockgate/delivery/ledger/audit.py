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
from lockgate.delivery.ledger.ledger import HEAD_FILE, LEDGER_FILE, Head, LedgerError, read_head

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
    """Walk the chain line by line, then hold its end against the head anchor."""
    return _audit(folder, check_signature, None)[0]


class IncrementalAudit:
    """``audit_ledger`` for a ledger audited again and again as it grows (the release page):
    the lines that held last time are not walked again while their bytes are unchanged and the
    head anchor still covers them; only what follows is. The report is the one a whole walk
    gives: any change to the earlier bytes, or a head that ends before them, walks it all."""

    def __init__(self, folder: Path, check_signature: SignatureCheck | None = None) -> None:
        self.folder = folder
        self.check_signature = check_signature
        self._held: tuple[bytes, _Walk] | None = None
        self.walked_from = 0  # where the last call's walk began, in bytes of the ledger

    def __call__(self) -> AuditReport:
        report, self._held, self.walked_from = _audit(self.folder, self.check_signature, self._held)
        return report


def _audit(
    folder: Path, check_signature: SignatureCheck | None, held: tuple[bytes, _Walk] | None
) -> tuple[AuditReport, tuple[bytes, _Walk] | None, int]:
    """The report; the prefix of the ledger that held, with the walk's state at its end; and
    where this walk began."""
    ledger = folder / LEDGER_FILE
    try:
        head = read_head(folder)
    except LedgerError as exc:
        return AuditReport(0, (str(exc),), 1), None, 0
    data = ledger.read_bytes() if ledger.exists() else b""
    if head is None:
        if not data:
            return AuditReport(0, notes=("the ledger is empty",)), None, 0
        missing = f"{folder / HEAD_FILE}: the head anchor is missing"
        return AuditReport(0, (missing,), 1), None, 0
    start = None
    if held is not None and len(held[0]) <= head.size and data.startswith(held[0]):
        start = held[1]
    walk = _walk_chain(data, head, check_signature, start)
    found = [walk.problem] if walk.problem else _end_problems(walk, head)
    problems = [f"entry {seq}: {message}" for seq, message in found]
    if check_signature is not None and not problems and not _head_signed(head, check_signature):
        problems.append("the head anchor's signature does not verify")
    first_bad = found[0][0] if found else None
    checkpoint = _Walk(walk.expected, walk.prev_hash, prev_time=walk.prev_time, held=walk.held)
    report = AuditReport(walk.expected - 1, tuple(problems), first_bad, walk.notes)
    return report, (data[: walk.held], checkpoint), start.held if start else 0


@dataclass
class _Walk:
    """How far the chain held: the next seq expected, the last good hash, the first problem."""

    expected: int = 1
    prev_hash: str = GENESIS
    problem: tuple[int, str] | None = None
    notes: tuple[str, ...] = ()
    torn: bool = False
    prev_time: str = ""
    held: int = 0  # bytes of the whole lines, within the head anchor, that held


def _walk_chain(
    data: bytes, head: Head, check_signature: SignatureCheck | None, start: _Walk | None = None
) -> _Walk:
    """Walk the lines from ``start.held`` on (from the first line when ``start`` is None)."""
    walk = _Walk()
    if start is not None:
        walk = _Walk(start.expected, start.prev_hash, prev_time=start.prev_time, held=start.held)
    lines = data[walk.held :].split(b"\n")
    walk.torn = bool(lines.pop())  # b"" when the file ends with a newline
    offset = walk.held
    for index, line in enumerate(lines):
        if offset >= head.size:
            if head.pending and offset == head.size:
                if check_signature is not None and not _signed_line(line, check_signature):
                    walk.problem = (
                        walk.expected,
                        "a pending append that is not signed with the given key",
                    )
                    break
                walk.notes = (
                    f"entry {walk.expected} is a pending append; the next write completes it",
                )
            else:
                walk.problem = (
                    walk.expected,
                    f"written after the head anchor (which ends at entry {head.seq}): "
                    "appended outside lockgate",
                )
            break
        offset += len(line) + 1
        try:
            seq, prev, when, digest_hex = read_chain(line)
        except LineError as exc:
            walk.problem = (walk.expected, f"edited: {exc}")
            break
        walk.problem = _link_problem(
            line, seq, prev, when, walk, walk.prev_time, check_signature, lines[index + 1 :]
        )
        if walk.problem is not None:
            break
        walk.prev_hash, walk.prev_time, walk.expected = digest_hex, when, walk.expected + 1
        walk.held = offset
    return walk


def _link_problem(
    line: bytes,
    seq: int,
    prev: str,
    when: str,
    walk: _Walk,
    prev_time: str,
    check_signature: SignatureCheck | None,
    rest: list[bytes],
) -> tuple[int, str] | None:
    """What is wrong with one entry's link to the one before it (seq, hash, time, signature);
    ``rest``, the lines after it, tells a swap from a deletion."""
    if seq != walk.expected:
        later = _seqs(rest)
        deleted = seq > walk.expected and walk.expected not in later
        what = "missing (deleted)" if deleted else "out of order (reordered)"
        where = f", and entry {walk.expected} comes later" if walk.expected in later else ""
        return (
            walk.expected,
            f"{what}: found entry {seq} where entry {walk.expected} belongs{where}",
        )
    if prev != walk.prev_hash:
        return (
            seq - 1,
            f"rewritten: entry {seq} records a different hash for it "
            "(its content changed and was re-hashed, or entries were spliced)",
        )
    if when < prev_time:
        return seq, f"time {when} is before the previous entry's {prev_time}"
    if check_signature is not None:
        entry = read_line(line)
        if entry.signature is None:
            return seq, "not signed"
        if not check_signature(entry.signed_payload(), entry.signature):
            return seq, "signature does not verify with the given public key"
    return None


def _end_problems(walk: _Walk, head: Head) -> list[tuple[int, str]]:
    """Where a whole chain's end disagrees with the head anchor: torn, truncated, rewritten."""
    found: list[tuple[int, str]] = []
    if walk.torn and not head.pending:
        found.append(
            (walk.expected, "an incomplete last line (torn write) outside any pending append")
        )
    last = walk.expected - 1
    if last < head.seq:
        found.append(
            (
                last + 1,
                f"missing: the ledger ends at entry {last}, the head anchor records "
                f"entry {head.seq} (truncated)",
            )
        )
    elif last == head.seq and walk.prev_hash != head.hash:
        found.append(
            (
                last,
                "the chain ends in a different hash than the head anchor records: "
                "entries were rewritten",
            )
        )
    return found


def _head_signed(head: Head, check_signature: SignatureCheck) -> bool:
    return head.signature is not None and check_signature(
        head.anchor_payload(), str(head.signature)
    )


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
