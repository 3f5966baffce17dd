"""Checking the signatures of many ledger lines at once, on every core.

An audit first walks the chain (cheap: one sha256 per line), collecting the lines whose links
hold; their signatures are then checked here. What a signature covers is cut from the line's own
bytes instead of parsing and re-serialising the entry, at the place the chain walk's match found
(:func:`~lockgate.delivery.ledger.entry.chain_fields`) when it is given, so no line is matched
twice; a line that fails that way is checked once more the old way (parsed, re-serialised), so
the fast path never refuses what the full parse accepts.

More than one core shares the lines in contiguous shares, the first failure of each share is
kept, and the earliest of those is the answer: the one a line-by-line check finds. libsodium's
verification releases the interpreter lock for the whole C call (PyNaCl's bindings are compiled
that way), so a checker that says so (``releases_gil``, :class:`.verification.KeyChecker` on
libsodium) is run on threads, which cost nothing to start and share the lines in place. Any
other checker (OpenSSL through ``cryptography``, a plain function) holds the lock, and runs on
forked worker processes that inherit the lines and the key and send back only the first failure
of their share.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

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
# below this many lines, sharing the work costs more than it saves (benchmarks/ledger_verify.py)
PARALLEL_FROM = 4000
SHARES_PER_WORKER = 4  # so that a worker slowed by other load does not hold up the rest
THREAD_SHARE = 1000  # lines per share on threads: small, so that a failure stops the rest soon

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
    parallel_from: int | None = None,
) -> tuple[int, str] | None:
    """(index, why) of the first line in ``lines`` whose signature does not hold, else None;
    ``spans[i]``, when given, is where line i's signature sits (from the chain walk); from
    ``parallel_from`` lines on, ``workers`` threads (a checker that releases the interpreter
    lock) or forked processes share the work (default: :data:`PARALLEL_FROM`, read here)."""
    if workers > 1 and len(lines) >= (PARALLEL_FROM if parallel_from is None else parallel_from):
        if getattr(check, "releases_gil", False):
            return _first_bad_threaded(lines, spans, check, workers)
        if _can_fork():
            return _first_bad_forked(lines, spans, check, workers)
    return _first_bad(lines, spans, check, 0, len(lines))


def _shares(count: int, step: int) -> list[tuple[int, int]]:
    """Contiguous (start, stop) shares of ``count`` lines, ``step`` each, in ledger order."""
    return [(start, min(start + step, count)) for start in range(0, count, step)]


def _first_bad_threaded(
    lines: Sequence[bytes], spans: Spans | None, check: SignatureCheck, workers: int
) -> tuple[int, str] | None:
    """Shares checked on threads; a share that starts after a failure already found is skipped
    (it cannot hold an earlier one), every share before it is checked in full."""
    found: list[tuple[int, str]] = []

    def share_problem(share: tuple[int, int]) -> None:
        if found and min(found)[0] < share[0]:
            return
        bad = _first_bad(lines, spans, check, *share)
        if bad is not None:
            found.append(bad)  # list.append is atomic under the interpreter lock

    pool = ThreadPoolExecutor(workers, thread_name_prefix="signatures")
    try:
        for done in [pool.submit(share_problem, s) for s in _shares(len(lines), THREAD_SHARE)]:
            done.result()  # a checker's exception reaches the caller, as on one core
    finally:  # on Ctrl-C, the shares not begun are dropped
        pool.shutdown(wait=True, cancel_futures=True)
    return min(found) if found else None


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
    shares = _shares(len(lines), max(1, -(-len(lines) // (workers * SHARES_PER_WORKER))))
    _shared = (lines, spans, check)
    # Workers start with SIGTERM and SIGINT blocked, so a signal that reaches one before
    # _quiet_worker has run waits for it instead of running the parent's handler in the child
    # (a handler that does not exit, as a stop-like-Ctrl-C one, left a worker alive and blocked
    # on the pool's queue lock after terminate(), and the pool's join() waited for it forever).
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _WORKER_SIGNALS)
    try:
        pool = multiprocessing.get_context("fork").Pool(workers, initializer=_quiet_worker)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    try:
        found = [bad for bad in pool.map(_share_problem, shares, chunksize=1) if bad]
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    finally:
        _shared = None
    pool.close()  # each worker takes its stop sentinel and exits; no signal is sent
    pool.join()
    return min(found) if found else None


_WORKER_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _quiet_worker() -> None:
    """A worker ends the way the pool ends it: the command's SIGTERM handler (stop like Ctrl-C)
    is the parent's, not the worker's, and Ctrl-C is for the parent to handle. Then the signals
    blocked across the fork are let in (a SIGTERM sent meanwhile ends the worker now)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _WORKER_SIGNALS)


def _share_problem(share: tuple[int, int]) -> tuple[int, str] | None:
    assert _shared is not None, "set by the parent before the workers were forked"
    lines, spans, check = _shared
    return _first_bad(lines, spans, check, *share)
