"""The evaluation gate: thresholds, then regression against the champion. Outcomes are data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lockgate.stages.evaluate.holdout import higher_is_better
from lockgate.stages.evaluate.thresholds import Threshold


@dataclass(frozen=True)
class GateCheck:
    name: str  # "threshold accuracy" or "regression accuracy"
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateDecision:
    checks: tuple[GateCheck, ...]
    champion_version: str | None
    note: str

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[GateCheck, ...]:
        return tuple(c for c in self.checks if not c.passed)

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"


def threshold_checks(
    metrics: Mapping[str, float], thresholds: Sequence[Threshold]
) -> list[GateCheck]:
    checks = []
    for t in thresholds:
        if t.metric not in metrics:
            checks.append(
                GateCheck(
                    f"threshold {t.metric}",
                    False,
                    f"{t.metric}: no such metric (have {', '.join(sorted(metrics))})",
                )
            )
            continue
        value = metrics[t.metric]
        ok = t.holds(value)
        checks.append(
            GateCheck(f"threshold {t.metric}", ok, f"{t.metric} = {value:.4g}, required {t}")
        )
    return checks


def regression_checks(
    metrics: Mapping[str, float], champion: Mapping[str, float], allowed: Mapping[str, float]
) -> list[GateCheck]:
    """A metric may be worse than the champion's by at most ``allowed[metric]`` (absolute)."""
    checks = []
    for metric, limit in allowed.items():
        if metric not in metrics or metric not in champion:
            checks.append(
                GateCheck(
                    f"regression {metric}",
                    False,
                    f"{metric}: not measured for both candidate and champion",
                )
            )
            continue
        worse_by = champion[metric] - metrics[metric]
        if not higher_is_better(metric):
            worse_by = -worse_by
        ok = worse_by <= limit + 1e-12
        checks.append(
            GateCheck(
                f"regression {metric}",
                ok,
                f"{metric} = {metrics[metric]:.4g} vs champion {champion[metric]:.4g}: "
                + (f"worse by {worse_by:.4g}" if worse_by > 0 else "not worse")
                + f", allowed {limit:g}",
            )
        )
    return checks


def decide(
    metrics: Mapping[str, float],
    thresholds: Sequence[Threshold],
    champion: Mapping[str, float] | None,
    champion_version: str | None,
    allowed: Mapping[str, float],
    *,
    earlier_versions: int = 0,
) -> GateDecision:
    checks = threshold_checks(metrics, thresholds)
    if champion is None and earlier_versions:
        note = (
            f"No champion chosen yet ({earlier_versions} earlier version"
            f"{'s' if earlier_versions > 1 else ''} registered, none promoted to champion): "
            + ("judged on thresholds alone" if thresholds else "no thresholds set either")
        )
        return GateDecision(tuple(checks), None, note)
    if champion is None:
        note = (
            "No champion registered yet: this first model is judged on thresholds alone"
            if thresholds
            else "No champion registered yet and no thresholds set: nothing to gate on"
        )
        return GateDecision(tuple(checks), None, note)
    checks += regression_checks(metrics, champion, allowed)
    note = f"Compared with champion version {champion_version} on the same holdout set"
    return GateDecision(tuple(checks), champion_version, note)
