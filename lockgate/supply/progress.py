"""A heartbeat for long, silent tool runs (a trivy scan of a large image can take minutes and
prints nothing useful): one line when the work starts, then one every ``every`` seconds with the
time so far, then one with the total. Plain lines, so CI logs and the stage log read alike."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def _stdout(line: str) -> None:
    print(line, file=sys.stdout, flush=True)  # progress; problems go to stderr


@contextmanager
def heartbeat(
    what: str, *, every: float = 15.0, say: Callable[[str], None] = _stdout
) -> Iterator[None]:
    """``say`` ``what`` now, ``what: still running, 15s`` while the block runs, and
    ``what: done in 42.1s`` (or ``stopped after``) at the end."""
    started = time.monotonic()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            say(f"{what}: still running, {time.monotonic() - started:.0f}s")

    say(f"{what} ...")
    thread = threading.Thread(target=beat, name="lockgate-heartbeat", daemon=True)
    thread.start()
    ok = False
    try:
        yield
        ok = True
    finally:
        stop.set()
        thread.join()
        took = time.monotonic() - started
        say(f"{what}: {'done in' if ok else 'stopped after'} {took:.1f}s")
