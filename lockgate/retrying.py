"""One way to try again: bounded attempts with growing, optionally jittered, delays.

An action signals "worth another attempt" by raising :class:`TryAgain`; any other exception
ends the attempts at once (a refusal never becomes a retry). When the attempts run out,
:class:`AttemptsExhausted` carries the count and the last reason, so each caller can word its
own one-line error.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class TryAgain(Exception):
    """Raised by an action: this attempt failed in a way another attempt may fix."""


class AttemptsExhausted(Exception):
    """Every attempt raised :class:`TryAgain`; ``last`` is the final reason."""

    def __init__(self, attempts: int, last: str) -> None:
        super().__init__(f"failed after {attempts} attempt{'s' if attempts != 1 else ''}: {last}")
        self.attempts = attempts
        self.last = last


@dataclass(frozen=True)
class Backoff:
    """``attempts`` tries; the wait after try ``n`` is ``first_s * factor**(n-1)``, spread by
    ``± jitter`` (a fraction) so that competing writers do not retry in lock-step."""

    attempts: int = 4
    first_s: float = 0.2
    factor: float = 2.0
    jitter: float = 0.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int) -> float:
        base = self.first_s * self.factor ** (attempt - 1)
        if self.jitter:
            base *= random.uniform(1 - self.jitter, 1 + self.jitter)
        return base


def retry(
    action: Callable[[int], T],
    backoff: Backoff,
    on_retry: Callable[[int, str, float], None] | None = None,
) -> T:
    """Call ``action(attempt)`` (from 1) until it returns; between attempts that raise
    :class:`TryAgain`, report through ``on_retry(attempt, reason, delay)`` and wait."""
    last = ""
    for attempt in range(1, backoff.attempts + 1):
        try:
            return action(attempt)
        except TryAgain as exc:
            last = str(exc)
        if attempt < backoff.attempts:
            delay = backoff.delay(attempt)
            if on_retry is not None:
                on_retry(attempt, last, delay)
            backoff.sleep(delay)
    raise AttemptsExhausted(backoff.attempts, last)
