"""How the partial aggregate of one batch merges with the running one.

Every scalar of a :class:`~lockgate.stages.data_check.compiler.ScanPlan` is declared with a
merge rule, so the same expressions evaluated batch by batch and merged give the values the
one-pass evaluation gives over the whole input:

- ``sum``, ``min``, ``max``: nulls (an empty batch's min) are ignored.
- ``examples``: the sorted distinct offending values, first five kept.
- ``counts``: value counts (a list of ``{value, count}``), added per value.
- ``moments``: ``{n, mean, m2}`` (count, mean, sum of squared deviations), merged with Chan's
  parallel formula, so mean and standard deviation stay exact up to float rounding; ``m2`` is
  null where the spread is not computed, and stays null when merged.
- a mapping ``field -> rule``: a struct merged field by field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

Merge = str | Mapping[str, str]
EXAMPLES = 5


def _sum(a: Any, b: Any) -> Any:
    if a is None:
        return b
    return a if b is None else a + b


def _pick(a: Any, b: Any, rule: str) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b) if rule == "min" else max(a, b)


def _examples(a: Sequence[Any] | None, b: Sequence[Any] | None) -> list[Any]:
    return sorted(set(a or ()) | set(b or ()))[:EXAMPLES]


def _pairs(counts: Sequence[Mapping[str, Any]] | None) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for pair in counts or ():
        value, count = pair.values()
        out[value] = out.get(value, 0) + int(count)
    return out


def _counts(a: Any, b: Any) -> list[dict[str, Any]]:
    merged = _pairs(a)
    for value, count in _pairs(b).items():
        merged[value] = merged.get(value, 0) + count
    return [{"value": v, "count": c} for v, c in merged.items()]


def _moments(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, Any]:
    na, nb = int((a or {}).get("n") or 0), int((b or {}).get("n") or 0)
    if nb == 0:
        return dict(a) if a else {"n": 0, "mean": None, "m2": None}
    if na == 0:
        return dict(b) if b else {"n": 0, "mean": None, "m2": None}
    assert a is not None and b is not None
    n = na + nb
    delta = b["mean"] - a["mean"]
    mean = a["mean"] + delta * nb / n
    if a["m2"] is None or b["m2"] is None:  # a side whose spread is not computed
        return {"n": n, "mean": mean, "m2": None}
    m2 = a["m2"] + b["m2"] + delta * delta * na * nb / n
    return {"n": n, "mean": mean, "m2": m2}


def merge(rule: Merge, a: Any, b: Any) -> Any:
    """``a`` (the running value) merged with ``b`` (a batch's value) under ``rule``."""
    if not isinstance(rule, str):
        a, b = a or {}, b or {}
        return {name: merge(r, a.get(name), b.get(name)) for name, r in rule.items()}
    if rule == "sum":
        return _sum(a, b)
    if rule in ("min", "max"):
        return _pick(a, b, rule)
    if rule == "examples":
        return _examples(a, b)
    if rule == "counts":
        return _counts(a, b)
    if rule == "moments":
        return _moments(a, b)
    raise ValueError(f"unknown merge rule {rule!r}")


def merge_row(
    rules: Mapping[str, Merge], running: Mapping[str, Any] | None, batch: Mapping[str, Any]
) -> dict[str, Any]:
    """The running row of partial aggregates after one more batch."""
    if running is None:
        return dict(batch)
    return {key: merge(rules[key], running[key], batch[key]) for key in rules}


def mean_std(moments: Mapping[str, Any] | None) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof 1) from merged ``moments`` (no standard
    deviation where ``m2`` was not computed)."""
    n = int((moments or {}).get("n") or 0)
    if n == 0 or moments is None:
        return None, None
    if n < 2 or moments.get("m2") is None:
        return moments["mean"], None
    return moments["mean"], math.sqrt(max(moments["m2"], 0.0) / (n - 1))
