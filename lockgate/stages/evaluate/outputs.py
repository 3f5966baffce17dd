"""What one evaluation produced, and its files in the stage's output folder: ``metrics.json``
(flat, for reports and PR comments), ``evaluation.json`` (everything), ``report.md`` with the
confusion matrix and the training curve."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.stages.evaluate.benchmark import LatencyResult
from lockgate.stages.evaluate.gate import GateDecision
from lockgate.stages.evaluate.holdout import HoldoutResult
from lockgate.stages.evaluate.registry import RegisteredVersion


@dataclass(frozen=True)
class Evaluation:
    result: HoldoutResult
    champion: dict[str, float] | None
    champion_version: str | None
    decision: GateDecision
    latency: Sequence[LatencyResult]
    registered: RegisteredVersion


def flat_metrics(evaluation: Evaluation) -> dict[str, Any]:
    """``metrics.json``: the candidate's metrics, the verdict, the versions, latency per batch."""
    flat: dict[str, Any] = {
        **evaluation.result.metrics,
        "verdict": evaluation.decision.verdict,
        "champion_version": evaluation.champion_version or "none",
        "registered_version": evaluation.registered.version,
    }
    for r in evaluation.latency:
        flat[f"latency_p50_ms_b{r.batch_size}"] = round(r.p50_ms, 4)
        flat[f"latency_p99_ms_b{r.batch_size}"] = round(r.p99_ms, 4)
        flat[f"throughput_b{r.batch_size}"] = round(r.samples_per_s, 1)
    return flat


def write_outputs(out: Path, evaluation: Evaluation, history: Path) -> None:
    """Every file of the stage's output; ``history`` is the train stage's ``history.json``."""
    from lockgate.stages.evaluate.summary import CONFUSION, plot_confusion, render_report
    from lockgate.stages.train.curves import CURVE, plot_history
    from lockgate.stages.train.outputs import write_json

    result, decision = evaluation.result, evaluation.decision
    images: list[tuple[str, str]] = []
    if result.confusion and plot_confusion(result.confusion, out / CONFUSION):
        images.append(("confusion matrix", CONFUSION))
    if history.is_file() and plot_history(json.loads(history.read_text()), out / CURVE):
        images.append(("training curve", CURVE))
    write_json(out / "metrics.json", flat_metrics(evaluation))
    write_json(
        out / "evaluation.json",
        {
            "metrics": result.metrics,
            "champion_metrics": evaluation.champion,
            "confusion": result.confusion,
            "checks": [c.__dict__ for c in decision.checks],
            "verdict": decision.verdict,
            "note": decision.note,
            "registered": evaluation.registered.__dict__,
            "latency": [r.__dict__ for r in evaluation.latency],
        },
    )
    (out / "report.md").write_text(
        render_report(
            result.metrics,
            evaluation.champion,
            decision,
            evaluation.latency,
            evaluation.registered,
            images,
        )
    )
