"""An Argo AnalysisRun read back as lockgate's own analysis records it: one condition per
metric, with the value Argo measured and its verdict, so the release page charts an
Argo-driven step like one of lockgate's (each value against its threshold).

Argo's Prometheus provider keeps a vector answer as text (``[0.002]``; ``[]`` when the query
returned nothing); a value that is not exactly one number is shown as no value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from lockgate.delivery.rollout.conditions import Condition

OUTCOMES = {"Successful": "pass", "Failed": "fail", "Inconclusive": "inconclusive"}


def measured(text: str | None) -> float | None:
    parts = [p for p in (text or "").strip().strip("[]").split(",") if p.strip()]
    if len(parts) != 1:
        return None
    try:
        value = float(parts[0])
    except ValueError:
        return None
    return None if math.isnan(value) or math.isinf(value) else value


def run_conditions(
    run: dict[str, Any], conditions: Sequence[Condition], min_requests: int
) -> list[dict[str, Any]]:
    """The conditions of one AnalysisRun (``status.metricResults``), in the Rollout's order."""
    texts = {c.metric.replace("_", "-"): str(c) for c in conditions}
    texts.setdefault("requests", f"requests >= {min_requests}")
    found = []
    for result in (run.get("status") or {}).get("metricResults") or []:
        name = str(result.get("name"))
        if name not in texts:
            continue
        last = (result.get("measurements") or [{}])[-1]
        phase = last.get("phase") or result.get("phase")
        found.append(
            {
                "condition": texts[name],
                "observed": measured(last.get("value")),
                "outcome": OUTCOMES.get(str(phase), "inconclusive"),
            }
        )
    return found
