"""Analysis conditions such as ``error_rate < 0.01``, parsed by a small grammar, never eval'd.

A condition is ``METRIC OP NUMBER`` with OP one of ``< <= > >= == !=``. A metric that has no
value in a window (no traffic, no predictions) makes the condition inconclusive, not passed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from lockgate.errors import LockgateError

METRICS = (
    "error_rate",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "requests",
    "proxy_error_rate",
    "proxy_p95_ms",
    "proxy_p99_ms",
    "prediction_psi",
    "prediction_js",
)
OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_PATTERN = re.compile(
    r"^\s*(?P<metric>[a-z][a-z0-9_]*)\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)

Outcome = Literal["pass", "fail", "inconclusive"]


class ConditionError(LockgateError):
    """A condition that does not parse."""


@dataclass(frozen=True)
class Condition:
    metric: str
    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"

    def check(self, values: Mapping[str, float | None]) -> ConditionResult:
        observed = values.get(self.metric)
        if observed is None:
            return ConditionResult(self, None, "inconclusive")
        ok = OPS[self.op](observed, self.threshold)
        return ConditionResult(self, observed, "pass" if ok else "fail")


@dataclass(frozen=True)
class ConditionResult:
    condition: Condition
    observed: float | None
    outcome: Outcome

    def describe(self) -> str:
        seen = "no value" if self.observed is None else f"{self.observed:.4g}"
        return f"{self.condition}: observed {seen} ({self.outcome})"

    def as_record(self) -> dict[str, object]:
        return {
            "condition": str(self.condition),
            "observed": self.observed,
            "outcome": self.outcome,
        }


def parse_condition(text: str) -> Condition:
    match = _PATTERN.match(text)
    if match is None:
        raise ConditionError(
            f"condition {text!r}: expected METRIC OP NUMBER, e.g. 'error_rate < 0.01'"
        )
    metric = match["metric"]
    if metric not in METRICS:
        raise ConditionError(
            f"condition {text!r}: unknown metric {metric!r}; one of: {', '.join(METRICS)}"
        )
    return Condition(metric, match["op"], float(match["value"]))
