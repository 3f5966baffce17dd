"""Checking the signatures of many ledger lines at once, on every core.

An audit first walks the chain (cheap: one sha256 per line), collecting the lines whose links
hold; their signatures are then checked here. What a signature covers is cut from the line's own
bytes instead of parsing and re-serialising the entry, at the place the chain walk's match found
(:func:`~lockgate.delivery.ledger.entry.chain_fields`) when it is given, so no line is matched
twice; a line that fails that way is checked once more the old way (parsed, re-serialised), so
the fast path never refuses what the full parse accepts. Ed25519 verification holds the
interpreter lock, so more than one core means worker processes: forked, they inherit the lines
and the key and send back only the first failure of their share.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from lockgate.delivery.ledger.entry import (
    LineError,
    SignatureSpan,
    cut_signed,
    read_line,
    signed_parts,
)

SignatureCheck = Callable[[bytes, str], bool]

NOT_SIGNED = "not signed"
NOT_VERIFIED = "signature does not verify with the given public key"
# below this many lines, starting worker processes costs more than it saves
PARALLEL_FROM = 4000

Spans = Sequence[SignatureSpan | None]
_shared: tuple[Sequence[bytes], Spans | None, SignatureCheck] | None = None


def line_problem(
    line: bytes, check: SignatureCheck, span: SignatureSpan | None = None
) -> str | None:
    """Why the signature of one ledger line does not hold, or None when it does; ``span`` is
    where the chain walk found its signature (else the line is matched here)."""
    parts = cut_signed(line, span) if span is not None else signed_parts(line)
    if parts is not None and check(*parts):
        return None
    try:
        entry = read_line(line)
    except LineError as exc:
        return f"edited: {exc}"
    if entry.signature is None:
        return NOT_SIGNED
    if not check(entry.signed_payload(), entry.signature):
        return NOT_VERIFIED
    return None


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def first_bad_signature(
    lines: Sequence[bytes],
    check: SignatureCheck,
    workers: int = 1,
    *,
    spans: Spans | None = None,
    parallel_from: int = PARALLEL_FROM,
) -> tuple[int, str] | None:
    """(index, why) of the first line in ``lines`` whose signature does not hold, else None;
    ``spans[i]``, when given, is where line i's signature sits (from the chain walk); from
    ``parallel_from`` lines on, ``workers`` forked processes share the work."""
    if workers > 1 and len(lines) >= parallel_from and _can_fork():
        return _first_bad_forked(lines, spans, check, workers)
    return _first_bad(lines, spans, check, 0, len(lines))


def _first_bad(
    lines: Sequence[bytes], spans: Spans | None, check: SignatureCheck, start: int, stop: int
) -> tuple[int, str] | None:
    for index in range(start, stop):
        problem = line_problem(lines[index], check, spans[index] if spans else None)
        if problem is not None:
            return index, problem
    return None


def _can_fork() -> bool:
    # macOS offers fork but its system libraries may not survive it: one process there. A process
    # that runs other threads (`lockgate ui` serving requests) could fork while one of them holds
    # a lock the child then waits on forever: such a process checks on one core.
    return (
        sys.platform == "linux"
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
    )


def _first_bad_forked(
    lines: Sequence[bytes], spans: Spans | None, check: SignatureCheck, workers: int
) -> tuple[int, str] | None:
    global _shared
    # contiguous shares, a few per worker so that a slow worker does not hold up the rest
    step = max(1, -(-len(lines) // (workers * 4)))
    shares = [(start, min(start + step, len(lines))) for start in range(0, len(lines), step)]
    _shared = (lines, spans, check)
    try:
        pool = multiprocessing.get_context("fork").Pool(workers, initializer=_quiet_worker)
        try:
            found = [bad for bad in pool.map(_share_problem, shares, chunksize=1) if bad]
            pool.close()  # let the workers finish and exit on their own
        finally:
            pool.terminate()
            pool.join()
    finally:
        _shared = None
    return min(found) if found else None


def _quiet_worker() -> None:
    """A worker ends the way the pool ends it: the command's SIGTERM handler (stop like Ctrl-C)
    is the parent's, not the worker's, and Ctrl-C is for the parent to handle."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _share_problem(share: tuple[int, int]) -> tuple[int, str] | None:
    assert _shared is not None, "set by the parent before the workers were forked"
    lines, spans, check = _shared
    return _first_bad(lines, spans, check, *share)
