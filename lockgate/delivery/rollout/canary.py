"""Canary: shift traffic to the candidate in steps, analysing each step before the next.

At each step the candidate gets its weight, then one analysis window runs (the step's pause
duration, or ``analysis.window_s`` for a manual pause). A window that passes moves on; one that
fails counts against ``analysis.failure_limit`` (and a candidate that stops answering fails at
once); an inconclusive window (too little traffic) is extended up to ``analysis.max_extensions``
times, then the rollout pauses instead of passing. ``pause: {}`` pauses after the step's window
passed, until ``lockgate rollout resume ENV``. After the last step the candidate takes 100%.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from lockgate.delivery.rollout.analysis import Analyzer, Measurement
from lockgate.delivery.rollout.state import RolloutState

if TYPE_CHECKING:
    from lockgate.delivery.rollout.rollouts import RolloutResult, Rollouts

POLL_S = 0.1


def _watch(ctl: Rollouts, state: RolloutState, seconds: float) -> None:
    """Sleep ``seconds``, ending early when the candidate stops running."""
    assert state.canary is not None
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ctl.sleep(min(POLL_S, left))
        if not ctl.target.running(state.canary):
            return


def _analyse_step(
    ctl: Rollouts, state: RolloutState, index: int, window_s: float
) -> tuple[RolloutState, Measurement]:
    settings = ctl.settings.analysis
    analyzer = Analyzer(
        ctl.target, settings.parsed(), settings.min_requests, settings.min_predictions
    )
    assert state.stable is not None and state.canary is not None
    extensions = 0
    while True:
        start = analyzer.begin([state.stable, state.canary])
        _watch(ctl, state, window_s)
        measured = analyzer.measure(
            start, state.canary, state.stable, step=index, weight=state.weight
        )
        ctl.log(
            f"{ctl.env}: step {index + 1} ({state.weight}%): {measured.outcome}: {measured.reason}"
        )
        state = ctl.store.save(
            state.evolve(measurements=(*state.measurements, measured.as_record()))
        )
        if measured.outcome == "pass":
            return state, measured
        if measured.outcome == "fail":
            state = ctl.store.save(state.evolve(failures=state.failures + 1))
            if measured.fatal or state.failures > settings.failure_limit:
                return state, measured
            continue
        extensions += 1
        if extensions > settings.max_extensions:
            return state, measured


def run_canary(ctl: Rollouts, state: RolloutState) -> RolloutResult:
    steps = ctl.settings.canary.steps
    last: Measurement | None = None
    assert state.canary is not None
    ctl.target.start(state.canary)  # no-op when a rerun finds it running
    while state.step < len(steps):
        index, step = state.step, steps[state.step]
        if step.weight >= 100:
            break
        state = ctl.store.save(state.evolve(weight=step.weight))
        ctl.target.route(state.weights())
        window_s = step.pause.duration
        manual = window_s is None
        state, last = _analyse_step(
            ctl, state, index, ctl.settings.analysis.window_s if window_s is None else window_s
        )
        if last.outcome == "fail":
            reason = f"step {index + 1} ({step.weight}%): {last.reason}"
            state, change = ctl.abort_candidate(state, reason)
            return ctl._result(state, "aborted", reason, failed_at=last.ended, rollback=change)
        if last.outcome == "inconclusive":
            reason = f"step {index + 1} ({step.weight}%) inconclusive: {last.reason}"
            state = ctl.store.save(state.evolve(phase="paused", reason=reason))
            return ctl._result(state, "paused", reason)
        state = ctl.store.save(state.evolve(step=index + 1))
        if manual:
            resume = f"lockgate rollout resume {ctl.env}"
            reason = f"paused after step {index + 1} ({step.weight}%): run `{resume}`"
            state = ctl.store.save(state.evolve(phase="paused", reason=reason))
            return ctl._result(state, "paused", reason)
    reference = dict(last.predictions) if last is not None else dict(state.reference)
    candidate = state.canary
    change = ctl.promote(state, reference)
    state = ctl.store.load(ctl.env)
    return ctl._result(
        state,
        "completed",
        "all steps passed",
        candidate=candidate,
        rollback=None,
        extra={"promoted": change},
    )
