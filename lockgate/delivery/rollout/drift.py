"""How far a prediction mix moved: population stability index and Jensen–Shannon distance.

Both take label -> count mappings (``lockgate_predictions_total`` deltas). Empty bins are
smoothed with a small epsilon so a label that one side never produced does not make PSI infinite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

EPSILON = 1e-4


def _proportions(
    expected: Mapping[str, float], actual: Mapping[str, float]
) -> tuple[list[float], list[float]] | None:
    labels = sorted(set(expected) | set(actual))
    e_total = sum(expected.values())
    a_total = sum(actual.values())
    if e_total <= 0 or a_total <= 0:
        return None
    e = [max(expected.get(k, 0.0) / e_total, EPSILON) for k in labels]
    a = [max(actual.get(k, 0.0) / a_total, EPSILON) for k in labels]
    e_sum, a_sum = sum(e), sum(a)
    return [x / e_sum for x in e], [x / a_sum for x in a]


def psi(expected: Mapping[str, float], actual: Mapping[str, float]) -> float | None:
    """sum((a - e) * ln(a / e)); None when either side has no predictions."""
    pair = _proportions(expected, actual)
    if pair is None:
        return None
    return sum((a - e) * math.log(a / e) for e, a in zip(*pair, strict=True))


def jensen_shannon(expected: Mapping[str, float], actual: Mapping[str, float]) -> float | None:
    """Jensen–Shannon distance in base 2 (0 = same mix, 1 = disjoint)."""
    pair = _proportions(expected, actual)
    if pair is None:
        return None
    e, a = pair
    m = [(x + y) / 2 for x, y in zip(e, a, strict=True)]

    def kl(p: list[float], q: list[float]) -> float:
        return sum(x * math.log2(x / y) for x, y in zip(p, q, strict=True) if x > 0)

    divergence = (kl(e, m) + kl(a, m)) / 2
    return math.sqrt(max(divergence, 0.0))
