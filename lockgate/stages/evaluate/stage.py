"""The evaluate stage from start to outputs: load the train stage's model and the holdout set,
measure both sides of the gate, decide, time inference, register the candidate, write the
outputs. Exit 1 when the gate fails."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.errors import LockgateError
from lockgate.stages.context import StageContext
from lockgate.stages.evaluate.champion import champion_metrics, check_champion_store
from lockgate.stages.evaluate.config import EvaluateConfig, parse_evaluate_config
from lockgate.stages.evaluate.gate import GateDecision, decide
from lockgate.stages.evaluate.outputs import Evaluation, write_outputs

if TYPE_CHECKING:
    from lockgate.stages.evaluate.benchmark import LatencyResult
    from lockgate.stages.tracking_store import TrackingStore
    from lockgate.stages.train.tabular import TabularData


class TrainRunMissing(LockgateError):
    """The upstream train stage left no MLflow model to evaluate."""


def read_train_run(ctx: StageContext, cfg: EvaluateConfig) -> dict[str, Any]:
    path = ctx.upstream(cfg.train) / "train-run.json"
    if not path.is_file():
        raise TrainRunMissing(
            f"{path}: not found; evaluate needs: [{cfg.train}] and with.train naming that stage"
        )
    run = json.loads(path.read_text())
    if not run.get("model_uri"):
        raise TrainRunMissing(
            f"{path}: the train stage ran with tracking: off, so there is no packaged model to "
            "evaluate; turn tracking on"
        )
    return dict(run)


def evaluate(ctx: StageContext, cfg: EvaluateConfig) -> GateDecision:
    from lockgate.stages.evaluate.holdout import evaluate_model
    from lockgate.stages.evaluate.registry import ModelRegistry
    from lockgate.stages.sealed_models import opened_model
    from lockgate.stages.train.precision import resolve_device
    from lockgate.stages.train.tabular import load_tabular

    train_run = read_train_run(ctx, cfg)
    store = tracking_store(ctx, cfg, train_run)
    mlflow = store.activate()
    device = resolve_device(cfg.device)
    holdout = load_tabular(ctx.resolve(cfg.data), cfg.target, cfg.task)
    n_classes = int(train_run.get("n_classes", 0))
    store.check_not_moved()
    sealer = ctx.at_rest_sealer()

    def opened(uri: str) -> AbstractContextManager[str]:
        return opened_model(store, uri, sealer)  # the embedded store's models rest sealed

    candidate = load_candidate(ctx, cfg, store, train_run, device, opened)
    result = evaluate_model(candidate, holdout.features, holdout.target, n_classes, device)
    registry = ModelRegistry(mlflow.MlflowClient())
    champ, champ_version, champ_problem = champion_metrics(
        registry, cfg, holdout, n_classes, device, opened
    )
    decision = decide(
        result.metrics,
        cfg.parsed_thresholds(),
        champ,
        champ_version,
        cfg.max_regression,
        earlier_versions=registry.version_count(cfg.model_name) if champ is None else 0,
    )
    if champ_problem is not None:
        decision = GateDecision(
            (*decision.checks, champ_problem),
            champ_version,
            f"Champion version {champ_version} could not be compared",
        )
    latency = measure_latency(cfg, candidate, holdout, device)
    tags = registry_tags(ctx, train_run, holdout, decision, champ_version, result.metrics)
    registered = registry.register(cfg.model_name, train_run["model_uri"], tags, decision.passed)
    evaluation = Evaluation(result, champ, champ_version, decision, latency, registered)
    write_outputs(ctx.out, evaluation, ctx.upstream(cfg.train) / "history.json")
    return decision


def tracking_store(
    ctx: StageContext, cfg: EvaluateConfig, train_run: dict[str, Any]
) -> TrackingStore:
    """The store the candidate was logged to (``with.tracking_uri`` first), refused in CI when
    it cannot hold a champion the gate needs."""
    from lockgate.stages.tracking_store import TrackingStore

    recorded = TrackingStore.recorded(train_run.get("tracking_uri"))
    if TrackingStore.is_embedded_uri(recorded):
        recorded = None  # the embedded store is this project's own, wherever the project is now
    store = TrackingStore.resolve(ctx.state, cfg.tracking_uri or recorded)
    check_champion_store(cfg, store.uri, dict(os.environ))
    return store


def load_candidate(
    ctx: StageContext,
    cfg: EvaluateConfig,
    store: TrackingStore,
    train_run: dict[str, Any],
    device: Any,
    opened: Callable[[str], AbstractContextManager[str]],
) -> Any:
    import mlflow.pytorch

    try:
        with opened(train_run["model_uri"]) as uri:
            return mlflow.pytorch.load_model(uri, map_location=device)
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        source = ctx.upstream(cfg.train) / "train-run.json"
        raise store.missing_model(train_run["model_uri"], source, cfg.train, exc) from None


def measure_latency(
    cfg: EvaluateConfig, candidate: Any, holdout: TabularData, device: Any
) -> list[LatencyResult]:
    from lockgate.stages.evaluate.benchmark import benchmark_inference

    if not cfg.benchmark.enabled:
        return []
    bench = cfg.benchmark
    return benchmark_inference(
        candidate, holdout.features, device, bench.batch_sizes, bench.iterations, bench.warmup
    )


def registry_tags(
    ctx: StageContext,
    train_run: dict[str, Any],
    holdout: TabularData,
    decision: GateDecision,
    champion_version: str | None,
    metrics: dict[str, float],
) -> dict[str, str]:
    """What the registered version records about itself (empty values left out)."""
    tags = {
        "lockgate.data_digest": train_run.get("data_digest") or "",
        "lockgate.holdout_digest": holdout.digest,
        "lockgate.git_sha": ctx.git_sha,
        "lockgate.image_digest": train_run.get("image_digest") or "",
        "lockgate.verdict": decision.verdict,
        "lockgate.run_id": ctx.run_id,
        "lockgate.champion_version": champion_version or "none",
        **{f"metric.{k}": f"{v:.6g}" for k, v in metrics.items()},
    }
    return {k: v for k, v in tags.items() if v}


def main(ctx: StageContext) -> int:
    cfg = parse_evaluate_config(ctx.with_)
    Path(ctx.out).mkdir(parents=True, exist_ok=True)
    decision = evaluate(ctx, cfg)
    print(f"evaluate: {decision.note}", file=sys.stderr)
    for failure in decision.failures:
        print(f"FAILED {failure.name}: {failure.detail}", file=sys.stderr)
    return 0 if decision.passed else 1
