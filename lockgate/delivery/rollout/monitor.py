"""Watching the live version, and rolling back on a sustained breach.

Every ``monitor.interval_s`` one window of the stable version is judged against
``monitor.conditions``: its own error rate and latency, and its prediction mix against a
reference (``monitor.reference`` or, by default, the mix recorded when it was promoted).
``monitor.breaches`` failing windows in a row roll the environment back to the previous version.
Bounded by a duration and a number of windows so it can run in a CI job or a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from lockgate.delivery.rollout.analysis import Analyzer, Measurement
from lockgate.delivery.rollout.rollouts import NothingToDo, RolloutResult, Rollouts
from lockgate.errors import EXIT_FAILED, EXIT_OK


@dataclass(frozen=True)
class MonitorReport:
    windows: tuple[Measurement, ...]
    rollback: RolloutResult | None
    reason: str

    @property
    def exit_code(self) -> int:
        return (
            EXIT_FAILED
            if self.rollback is not None or self.reason.startswith("breach")
            else EXIT_OK
        )


class LiveMonitor:
    def __init__(
        self,
        rollouts: Rollouts,
        *,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.rollouts = rollouts
        self.settings = rollouts.settings.monitor
        self.clock = clock
        self.log = log

    def watch(self, duration_s: float, max_windows: int | None = None) -> MonitorReport:
        state = self.rollouts.status()
        if state.stable is None:
            raise NothingToDo(f"environment {self.rollouts.env!r} has no live version to watch")
        stable = state.stable
        reference = self.settings.reference or state.reference or None
        analyzer = Analyzer(
            self.rollouts.target, self.settings.parsed(), self.settings.min_requests
        )
        windows: list[Measurement] = []
        streak = 0
        deadline = self.clock() + duration_s
        while self.clock() < deadline and (max_windows is None or len(windows) < max_windows):
            start = analyzer.begin([stable])
            self.rollouts.sleep(min(self.settings.interval_s, max(deadline - self.clock(), 0.0)))
            measured = analyzer.measure(start, stable, reference, step=len(windows))
            windows.append(measured)
            streak = streak + 1 if measured.outcome == "fail" else 0
            self.log(f"{self.rollouts.env}: {stable.ref}: {measured.outcome}: {measured.reason}")
            if streak >= self.settings.breaches:
                reason = f"breach for {streak} windows: {measured.reason}"
                try:
                    result = self.rollouts.rollback(reason)
                except NothingToDo as error:
                    return MonitorReport(tuple(windows), None, f"{reason} ({error})")
                return MonitorReport(tuple(windows), result, reason)
        return MonitorReport(tuple(windows), None, f"healthy for {len(windows)} windows")
