"""The read-ahead keeps order, bounds how far it reads ahead, hands over errors where they
happened, and stops its reader when the caller stops early."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from lockgate.stages.ingest.prefetch import prefetched


def test_items_arrive_in_order_and_the_reader_stays_at_most_depth_ahead() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(20):
            produced.append(i)
            yield i

    seen = []
    for item in prefetched(source(), depth=2):
        time.sleep(0.01)  # a slow writer: the reader fills the queue and waits
        # read so far: the items handed over, at most 2 waiting, 1 being read
        assert len(produced) <= item + 1 + 2 + 1
        seen.append(item)
    assert seen == list(range(20))


def test_an_error_while_reading_is_raised_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("column 'x' was dropped upstream")

    seen = []
    with pytest.raises(ValueError, match="column 'x' was dropped upstream"):
        for item in prefetched(source()):
            seen.append(item)
    assert seen == [1, 2]


def test_stopping_early_stops_the_reader_and_closes_the_source() -> None:
    closed = threading.Event()
    produced: list[int] = []

    def source() -> Iterator[int]:
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    with pytest.raises(RuntimeError, match="disk full"):
        for item in prefetched(source()):
            if item == 3:
                raise RuntimeError("disk full")
    assert closed.is_set()
    assert len(produced) <= 6
    assert not [t for t in threading.enumerate() if t.name == "ingest-reader"]
