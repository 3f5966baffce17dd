"""The one retry helper: bounded attempts, growing delays, refusals never retried."""

from __future__ import annotations

import pytest

from lockgate.retrying import AttemptsExhausted, Backoff, TryAgain, retry


def test_retries_until_success_with_doubling_delays() -> None:
    waits: list[float] = []
    told: list[tuple[int, str]] = []

    def action(attempt: int) -> str:
        if attempt < 3:
            raise TryAgain(f"down {attempt}")
        return f"ok on {attempt}"

    backoff = Backoff(attempts=5, first_s=0.5, sleep=waits.append)
    result = retry(action, backoff, lambda n, why, delay: told.append((n, why)))
    assert result == "ok on 3"
    assert waits == [0.5, 1.0]
    assert told == [(1, "down 1"), (2, "down 2")]


def test_exhausted_attempts_carry_the_last_reason_and_do_not_sleep_after_the_last() -> None:
    waits: list[float] = []

    def action(attempt: int) -> None:
        raise TryAgain(f"still down ({attempt})")

    with pytest.raises(AttemptsExhausted) as err:
        retry(action, Backoff(attempts=3, first_s=1.0, sleep=waits.append))
    assert (err.value.attempts, err.value.last) == (3, "still down (3)")
    assert waits == [1.0, 2.0]


def test_any_other_error_ends_at_once() -> None:
    calls: list[int] = []

    def action(attempt: int) -> None:
        calls.append(attempt)
        raise PermissionError("refused")

    with pytest.raises(PermissionError):
        retry(action, Backoff(attempts=4, sleep=lambda s: None))
    assert calls == [1]


def test_jitter_spreads_delays_within_bounds() -> None:
    backoff = Backoff(attempts=3, first_s=1.0, factor=1.0, jitter=0.5)
    delays = {backoff.delay(1) for _ in range(50)}
    assert all(0.5 <= d <= 1.5 for d in delays) and len(delays) > 1
