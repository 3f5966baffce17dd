"""``lockgate audit verify``: is the ledger complete and untampered?

Checks: every line parses and its hash matches its bytes (edit), seqs run 1, 2, 3 without gaps
or swaps (delete, reorder), each entry names its predecessor's hash (splice), times never go
backwards, signatures verify where a public key is given, and the last entry is the one the head
anchor records (truncate, forged append, rewritten chain). The chain is walked first; the
signatures of the lines it accepted are checked after, on every core; the first problem in ledger
order is the one reported, as a line-by-line walk would find it. A prefix this machine audited
before and finds byte for byte unchanged is not walked again (:mod:`.audited`), and the
signatures a signed checkpoint in the ledger vouches for are not checked again
(:mod:`.checkpoint`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lockgate.delivery.ledger.audited import AuditRecord
from lockgate.delivery.ledger.checkpoint import Checkpoint, vouched_lines
from lockgate.delivery.ledger.entry import (
    GENESIS,
    LineError,
    SignatureSpan,
    chain_fields,
    read_chain,
)
from lockgate.delivery.ledger.head import HEAD_FILE, Head, LedgerError, read_consistent
from lockgate.delivery.ledger.signatures import SignatureCheck, first_bad_signature, line_problem

HEAD_NOT_SIGNED = "the head anchor's signature does not verify"


@dataclass(frozen=True)
class AuditReport:
    entries: int
    problems: tuple[str, ...] = ()
    first_bad_seq: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    unchanged: int = 0  # entries 1..unchanged: the bytes this machine audited before
    checkpoint: Checkpoint | None = None  # the signed checkpoint whose range was not re-checked

    @property
    def ok(self) -> bool:
        return not self.problems


def audit_ledger(
    folder: Path,
    check_signature: SignatureCheck | None = None,
    *,
    record: AuditRecord | None = None,
    skip_audited: bool = True,
    workers: int = 1,
    checkpoints: bool = True,
) -> AuditReport:
    """Walk the chain line by line, check the signatures of the lines whose links hold (on
    ``workers`` processes), then hold the chain's end against the head anchor. With ``record``,
    a passing audit is recorded, and (``skip_audited``) a prefix that passed before and is byte
    for byte unchanged is not walked again. With ``checkpoints``, the signatures a signed
    checkpoint vouches for are not checked again (their lines are walked as always)."""
    return _audit(folder, check_signature, None, record, skip_audited, workers, checkpoints)[0]


class IncrementalAudit:
    """``audit_ledger`` for a ledger audited again and again as it grows (the release page):
    the lines that held last time are not walked again while their bytes are unchanged and the
    head anchor still covers them; only what follows is. The report is the one a whole walk
    gives: any change to the earlier bytes, or a head that ends before them, walks it all."""

    def __init__(self, folder: Path, check_signature: SignatureCheck | None = None) -> None:
        self.folder = folder
        self.check_signature = check_signature
        self._held: tuple[bytes, Walk] | None = None
        self.walked_from = 0  # where the last call's walk began, in bytes of the ledger

    def __call__(self) -> AuditReport:
        report, self._held, self.walked_from = _audit(self.folder, self.check_signature, self._held)
        return report


def _audit(
    folder: Path,
    check_signature: SignatureCheck | None,
    held: tuple[bytes, Walk] | None,
    record: AuditRecord | None = None,
    skip_audited: bool = True,
    workers: int = 1,
    checkpoints: bool = True,
) -> tuple[AuditReport, tuple[bytes, Walk] | None, int]:
    """The report; the prefix of the ledger that held, with the walk's state at its end; and
    where this walk began. ``held`` (in memory) or ``record`` (on disk) say where to start."""
    try:
        head, data = read_consistent(folder)
    except LedgerError as exc:
        return AuditReport(0, (str(exc),), 1), None, 0
    if head is None:
        if not data:
            return AuditReport(0, notes=("the ledger is empty",)), None, 0
        missing = f"{folder / HEAD_FILE}: the head anchor is missing"
        return AuditReport(0, (missing,), 1), None, 0
    return audit_bytes(
        head, data, check_signature, held, record, skip_audited, workers, checkpoints
    )


def audit_bytes(
    head: Head,
    data: bytes,
    check_signature: SignatureCheck | None,
    held: tuple[bytes, Walk] | None = None,
    record: AuditRecord | None = None,
    skip_audited: bool = True,
    workers: int = 1,
    checkpoints: bool = True,
    keep_parsed: bool | None = None,
) -> tuple[AuditReport, tuple[bytes, Walk] | None, int]:
    """:func:`_audit` of bytes already read: ``data`` from ``ledger.jsonl`` under ``head``.
    ``keep_parsed`` (default: ``skip_audited``): whether a passing audit's record keeps naming
    this machine's parsed copy (a ``--full`` audit forgets it)."""
    start, unchanged = None, 0
    if held is not None and len(held[0]) <= head.size and data.startswith(held[0]):
        start = held[1]
    elif record is not None and skip_audited:
        prefix = record.unchanged_prefix(data, head.size)
        if prefix is not None:
            start = Walk(prefix.seq + 1, prefix.hash, prev_time=prefix.time, held=prefix.size)
            unchanged = prefix.seq
    first_seq = start.expected if start else 1
    walk = _walk_chain(data, head, check_signature, start)
    vouched, vouched_by = 0, None
    if check_signature is not None:
        if checkpoints:
            vouched, vouched_by = vouched_lines(walk.lines, walk.linked, first_seq, check_signature)
        _check_signatures(walk, check_signature, workers, skip=vouched)
    found = [walk.problem] if walk.problem else _end_problems(walk, head)
    problems = [f"entry {seq}: {message}" for seq, message in found]
    if check_signature is not None and not problems and not _head_signed(head, check_signature):
        problems.append(HEAD_NOT_SIGNED)
    first_bad = found[0][0] if found else None
    if problems:
        vouched_by = None  # a failed audit vouches for nothing
    report = AuditReport(
        walk.expected - 1, tuple(problems), first_bad, walk.notes, unchanged, vouched_by
    )
    if record is not None and report.ok and head.size:
        keep = skip_audited if keep_parsed is None else keep_parsed
        record.record(data, head.size, head.seq, head.hash, walk.prev_time, keep)
    checkpoint = Walk(walk.expected, walk.prev_hash, prev_time=walk.prev_time, held=walk.held)
    return report, (data[: walk.held], checkpoint), start.held if start else 0


@dataclass
class Walk:
    """How far the chain held: the next seq expected, the last good hash and time, the first
    problem, and the bytes of whole lines within the head anchor that held; ``lines[:linked]``
    are the walked lines whose links held (their signatures are checked next)."""

    expected: int = 1
    prev_hash: str = GENESIS
    problem: tuple[int, str] | None = None
    notes: tuple[str, ...] = ()
    torn: bool = False
    prev_time: str = ""
    held: int = 0
    lines: list[bytes] = field(default_factory=list)
    linked: int = 0
    spans: list[SignatureSpan | None] = field(default_factory=list)  # of lines[:linked]
    start_time: str = ""  # prev_time where this walk began


def _walk_chain(
    data: bytes, head: Head, check_signature: SignatureCheck | None, start: Walk | None = None
) -> Walk:
    """Walk the lines from ``start.held`` on (from the first line when ``start`` is None)."""
    walk = Walk()
    if start is not None:
        walk = Walk(start.expected, start.prev_hash, prev_time=start.prev_time, held=start.held)
    walk.start_time = walk.prev_time
    lines = walk.lines = (data[walk.held :] if walk.held else data).split(b"\n")
    walk.torn = bool(lines.pop())  # b"" when the file ends with a newline
    offset = walk.held
    for index, line in enumerate(lines):
        if offset >= head.size:
            walk.problem = _beyond_head(line, offset, head, walk, check_signature)
            break
        offset += len(line) + 1
        try:
            seq, prev, when, digest_hex, span = chain_fields(line)
        except LineError as exc:
            walk.problem = (walk.expected, f"edited: {exc}")
            break
        walk.problem = _link_problem(seq, prev, when, walk, lines, index)
        if walk.problem is not None:
            break
        walk.prev_hash, walk.prev_time, walk.expected = digest_hex, when, walk.expected + 1
        walk.held, walk.linked = offset, index + 1
        walk.spans.append(span)
    return walk


def _beyond_head(
    line: bytes, offset: int, head: Head, walk: Walk, check_signature: SignatureCheck | None
) -> tuple[int, str] | None:
    """A line past the committed bytes: a pending append (noted), or an append outside lockgate."""
    if not (head.pending and offset == head.size):
        return (
            walk.expected,
            f"written after the head anchor (which ends at entry {head.seq}): "
            "appended outside lockgate",
        )
    if check_signature is not None and line_problem(line, check_signature) is not None:
        return walk.expected, "a pending append that is not signed with the given key"
    walk.notes = (f"entry {walk.expected} is a pending append; the next write completes it",)
    return None


def _link_problem(
    seq: int, prev: str, when: str, walk: Walk, lines: list[bytes], index: int
) -> tuple[int, str] | None:
    """What is wrong with one entry's link to the one before it (seq, hash, time); the lines
    after it tell a swap from a deletion."""
    if seq != walk.expected:
        later = _seqs(lines[index + 1 :])
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
    if when < walk.prev_time:
        return seq, f"time {when} is before the previous entry's {walk.prev_time}"
    return None


def _check_signatures(walk: Walk, check: SignatureCheck, workers: int, skip: int = 0) -> None:
    """Check the signatures of the lines whose links held (but the first ``skip``, which a
    checkpoint vouches for); the first that fails becomes the audit's first problem, ahead of
    any link problem after it (as a line-by-line walk finds)."""
    lines, spans = walk.lines[skip : walk.linked], walk.spans[skip:]
    bad = first_bad_signature(lines, check, workers, spans=spans)
    if bad is None:
        return
    index, why = bad[0] + skip, bad[1]
    seq, prev, _, _ = read_chain(walk.lines[index])
    walk.expected, walk.prev_hash, walk.problem, walk.notes = seq, prev, (seq, why), ()
    walk.held -= sum(len(line) + 1 for line in walk.lines[index : walk.linked])
    walk.prev_time = read_chain(walk.lines[index - 1])[2] if index else walk.start_time


def _end_problems(walk: Walk, head: Head) -> list[tuple[int, str]]:
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


def _seqs(lines: list[bytes]) -> set[int]:
    """The seqs the given lines claim (unreadable lines skipped): tells a swap from a deletion."""
    out = set()
    for line in lines:
        try:
            out.add(read_chain(line)[0])
        except LineError:
            continue
    return out
