"""Read the next batch while the current one is written.

Reading is mostly waiting on the source (a database formatting rows, a store sending bytes) and
writing is mostly Parquet encoding; both release Python's lock, so a reader thread that stays
``depth`` batches ahead overlaps them. Memory stays bounded: at most ``depth`` batches wait, plus
the one being read and the one being written. Commits still happen in order on the caller's
thread, so a watermark still advances only after its batch is durable; a batch read ahead and
not yet committed when the process dies is simply read again by the next run.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


def prefetched(items: Iterator[T], *, depth: int = 1) -> Generator[T, None, None]:
    """``items``, advanced by a reader thread up to ``depth`` items ahead of the caller. An
    error raised while reading is raised here, at the item it stopped; stopping early (an
    error while writing) stops the reader before ``items`` is closed."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for item in items:
                if not hand_over(item):
                    return
        except BaseException as exc:  # handed to the caller's thread and raised there
            hand_over(exc)
            return
        hand_over(_DONE)

    reader = threading.Thread(target=read, name="ingest-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]  # anything else is one of items' T
    finally:
        stop.set()
        reader.join()
        close = getattr(items, "close", None)
        if close is not None:
            close()
