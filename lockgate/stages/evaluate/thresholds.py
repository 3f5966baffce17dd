"""Metric thresholds written as text in ``with: thresholds:`` (``accuracy: ">= 0.9"``).

Parsed with one regular expression: a comparison operator and a number. Nothing is evaluated.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lockgate.errors import LockgateError

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_PATTERN = re.compile(r"^\s*(>=|<=|==|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


class ThresholdError(LockgateError):
    """A threshold in ``with: thresholds:`` is not ``OP NUMBER``."""


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float

    def holds(self, measured: float) -> bool:
        return not math.isnan(measured) and OPERATORS[self.op](measured, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


def parse_threshold(metric: str, text: Any) -> Threshold:
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ThresholdError(
            f"with.thresholds.{metric}: expected text like '>= 0.9', got {type(text).__name__}"
        )
    if isinstance(text, (int, float)):
        raise ThresholdError(
            f"with.thresholds.{metric}: {text!r} has no comparison; write '>= {text}' or "
            f"'<= {text}'"
        )
    match = _PATTERN.match(text)
    if match is None:
        raise ThresholdError(
            f"with.thresholds.{metric}: {text!r} is not 'OP NUMBER' "
            f"(OP one of {', '.join(OPERATORS)}), e.g. '>= 0.9'"
        )
    value = float(match.group(2))
    if not math.isfinite(value):
        raise ThresholdError(f"with.thresholds.{metric}: {text!r} is not a finite number")
    return Threshold(metric, match.group(1), value)


def parse_thresholds(raw: Mapping[str, Any]) -> tuple[Threshold, ...]:
    return tuple(parse_threshold(str(metric), text) for metric, text in raw.items())
