"""One analysis window: scrape both versions, read the proxy log, judge the canary.

Metric names (what conditions can use):
    requests, error_rate, p50_ms, p95_ms, p99_ms        from the version's own /metrics deltas
    proxy_error_rate, proxy_p95_ms, proxy_p99_ms        from the proxy's access log
    prediction_psi, prediction_js                       canary's prediction mix vs the baseline
A window with fewer than ``min_requests`` canary requests is inconclusive, whatever the values.
A version that does not answer ``/metrics`` fails the window outright (``fatal``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lockgate.delivery.rollout.accesslog import AccessLogReader, Attempt, stats_for
from lockgate.delivery.rollout.conditions import Condition, ConditionResult, Outcome
from lockgate.delivery.rollout.drift import jensen_shannon, psi
from lockgate.delivery.rollout.scrape import Scrape, ScrapeFailed, Window, scrape, window
from lockgate.delivery.rollout.targets.base import Target, Version


@dataclass(frozen=True)
class Measurement:
    """The verdict of one window, kept as data (the promotion ledger records it)."""

    version: str
    step: int
    weight: int
    started: float
    ended: float
    outcome: Outcome
    reason: str
    values: Mapping[str, float | None] = field(default_factory=dict)
    results: tuple[ConditionResult, ...] = ()
    predictions: Mapping[str, float] = field(default_factory=dict)
    baseline_predictions: Mapping[str, float] = field(default_factory=dict)
    fatal: bool = False

    def as_record(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "step": self.step,
            "weight": self.weight,
            "started": self.started,
            "ended": self.ended,
            "outcome": self.outcome,
            "reason": self.reason,
            "fatal": self.fatal,
            "values": dict(self.values),
            "conditions": [r.as_record() for r in self.results],
            "predictions": dict(self.predictions),
            "baseline_predictions": dict(self.baseline_predictions),
        }


def version_values(
    win: Window, attempts: Sequence[Attempt], upstream: str | None
) -> dict[str, float | None]:
    values: dict[str, float | None] = {
        "requests": win.requests,
        "error_rate": win.error_rate(),
        "p50_ms": win.quantile_ms(0.50),
        "p95_ms": win.quantile_ms(0.95),
        "p99_ms": win.quantile_ms(0.99),
    }
    if upstream is not None:
        stats = stats_for(attempts, upstream)
        values.update(
            proxy_requests=float(stats.requests),
            proxy_error_rate=stats.error_rate,
            proxy_p95_ms=stats.p95_ms,
            proxy_p99_ms=stats.p99_ms,
        )
    return values


def enough_predictions(
    expected: Mapping[str, float], observed: Mapping[str, float], minimum: int
) -> bool:
    """Both prediction mixes hold at least ``minimum`` predictions (0: no minimum)."""
    return minimum <= 0 or (sum(expected.values()) >= minimum and sum(observed.values()) >= minimum)


def judge(
    conditions: Sequence[Condition],
    values: Mapping[str, float | None],
    min_requests: int,
) -> tuple[Outcome, tuple[ConditionResult, ...], str]:
    results = tuple(c.check(values) for c in conditions)
    requests = values.get("requests") or 0.0
    if requests < min_requests:  # too little traffic to say anything, good or bad
        return "inconclusive", results, f"{requests:g} requests, fewer than {min_requests}"
    failed = [r for r in results if r.outcome == "fail"]
    if failed:
        return "fail", results, "; ".join(r.describe() for r in failed)
    unknown = [r for r in results if r.outcome == "inconclusive"]
    if unknown:
        return "inconclusive", results, "; ".join(r.describe() for r in unknown)
    return "pass", results, "all conditions hold"


@dataclass(frozen=True)
class WindowStart:
    at: float
    scrapes: Mapping[Version, Scrape]
    log: AccessLogReader | None


class Analyzer:
    """Judges ``canary`` against ``baseline`` over windows; dependencies come in, none made."""

    def __init__(
        self,
        target: Target,
        conditions: Sequence[Condition],
        min_requests: int,
        min_predictions: int = 0,
    ) -> None:
        self.target = target
        self.conditions = tuple(conditions)
        self.min_requests = min_requests
        self.min_predictions = min_predictions

    def _scrape(self, version: Version) -> Scrape:
        url = self.target.metrics_url(version)
        if url is None or not self.target.running(version):
            raise ScrapeFailed(f"version {version.name} ({version.ref}) is not running")
        return scrape(url)

    def begin(self, versions: Sequence[Version]) -> WindowStart:
        scrapes = {}
        for version in versions:
            try:
                scrapes[version] = self._scrape(version)
            except ScrapeFailed:
                scrapes[version] = Scrape()  # judged (and failed) at the window's end
        return WindowStart(time.time(), scrapes, self.target.access_log())

    def measure(
        self,
        start: WindowStart,
        canary: Version,
        baseline: Version | Mapping[str, float] | None,
        *,
        step: int = 0,
        weight: int = 0,
    ) -> Measurement:
        """Judge ``canary``; ``baseline`` is the stable version or a reference mix."""
        attempts = start.log.read_new() if start.log is not None else []
        try:
            canary_window = window(start.scrapes.get(canary, Scrape()), self._scrape(canary))
        except ScrapeFailed as error:
            return Measurement(
                canary.name,
                step,
                weight,
                start.at,
                time.time(),
                "fail",
                f"canary does not answer: {error}",
                fatal=True,
            )
        values = version_values(canary_window, attempts, self.target.upstream(canary))
        expected: Mapping[str, float] = {}
        if isinstance(baseline, Version):
            try:
                expected = window(
                    start.scrapes.get(baseline, Scrape()), self._scrape(baseline)
                ).predictions
            except ScrapeFailed:
                expected = {}
        elif baseline is not None:
            expected = baseline
        if enough_predictions(expected, canary_window.predictions, self.min_predictions):
            values["prediction_psi"] = psi(expected, canary_window.predictions)
            values["prediction_js"] = jensen_shannon(expected, canary_window.predictions)
        else:  # a handful of predictions makes any drift figure noise: say so, don't judge
            values["prediction_psi"] = values["prediction_js"] = None
        outcome, results, reason = judge(self.conditions, values, self.min_requests)
        return Measurement(
            canary.name,
            step,
            weight,
            start.at,
            time.time(),
            outcome,
            reason,
            values,
            results,
            dict(canary_window.predictions),
            dict(expected),
        )
