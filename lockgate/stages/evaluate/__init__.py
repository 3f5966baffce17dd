"""``uses: lockgate/evaluate``: holdout metrics, thresholds, champion comparison, latency, and
registration of the candidate. Exit 1 when the gate fails. See docs/train.md."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from lockgate.errors import LockgateError
from lockgate.stages.context import StageContext
from lockgate.stages.evaluate.config import EvaluateConfig, parse_evaluate_config
from lockgate.stages.evaluate.gate import GateCheck, GateDecision, decide


class ChampionUnreachable(LockgateError):
    """A champion comparison is required but the tracking store does not outlive the CI job."""


CI_MARKERS = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL")


def check_champion_store(cfg: EvaluateConfig, uri: str, env: dict[str, str]) -> None:
    """In CI a store in local files (the embedded SQLite one, or any sqlite:/file: URI) lives
    in the job's workspace and is gone afterwards: nothing is ever the champion there, so
    max_regression would silently never apply."""
    embedded = uri.split(":", 1)[0].lower() in ("sqlite", "file") or "://" not in uri
    in_ci = any(env.get(name, "").strip().lower() not in ("", "0", "false") for name in CI_MARKERS)
    if cfg.max_regression and cfg.champion == "required" and embedded and in_ci:
        raise ChampionUnreachable(
            "evaluate: with.max_regression compares against the registered champion, but this "
            "CI job uses the embedded tracking store, which is discarded when the job ends; set "
            "the CI secret/variable MLFLOW_TRACKING_URI to your tracking server (or "
            "with.tracking_uri / the spec's tracking_uri), or set with.champion: optional to "
            "accept models on thresholds alone until a champion exists"
        )


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


def champion_metrics(
    registry: Any, cfg: EvaluateConfig, holdout: Any, n_classes: int, device: Any
) -> tuple[dict[str, float] | None, str | None, GateCheck | None]:
    """Re-measure the champion on this holdout set, so both sides see the same data."""
    import mlflow.pytorch

    from lockgate.stages.evaluate.holdout import evaluate_model

    ref = registry.champion(cfg.model_name)
    if ref is None:
        return None, None, None
    try:
        model = mlflow.pytorch.load_model(ref.uri, map_location=device)
        result = evaluate_model(model, holdout.features, holdout.target, n_classes, device)
    except Exception as exc:  # a champion for other features, a missing artifact, ...
        return (
            None,
            ref.version,
            GateCheck(
                "champion",
                False,
                f"champion version {ref.version} could not be evaluated on this "
                f"holdout set: {type(exc).__name__}: {str(exc)[:200]}",
            ),
        )
    return result.metrics, ref.version, None


def evaluate(ctx: StageContext, cfg: EvaluateConfig) -> GateDecision:
    import mlflow.pytorch

    from lockgate.stages.evaluate.benchmark import benchmark_inference
    from lockgate.stages.evaluate.holdout import evaluate_model
    from lockgate.stages.evaluate.registry import ModelRegistry
    from lockgate.stages.evaluate.summary import plot_confusion, render_report
    from lockgate.stages.tracking_store import TrackingStore
    from lockgate.stages.train.curves import plot_history
    from lockgate.stages.train.outputs import write_json
    from lockgate.stages.train.precision import resolve_device
    from lockgate.stages.train.tabular import load_tabular

    train_run = read_train_run(ctx, cfg)
    recorded = train_run.get("tracking_uri")
    if TrackingStore.is_embedded_uri(recorded):
        recorded = None  # the embedded store is this project's own, wherever the project is now
    store = TrackingStore.resolve(ctx.state, cfg.tracking_uri or recorded)
    check_champion_store(cfg, store.uri, dict(os.environ))
    mlflow = store.activate()
    device = resolve_device(cfg.device)
    holdout = load_tabular(ctx.resolve(cfg.data), cfg.target, cfg.task)
    n_classes = int(train_run.get("n_classes", 0))
    store.check_not_moved()
    try:
        candidate = mlflow.pytorch.load_model(train_run["model_uri"], map_location=device)
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        source = ctx.upstream(cfg.train) / "train-run.json"
        raise store.missing_model(train_run["model_uri"], source, cfg.train, exc) from None
    result = evaluate_model(candidate, holdout.features, holdout.target, n_classes, device)
    registry = ModelRegistry(mlflow.MlflowClient())
    champ, champ_version, champ_problem = champion_metrics(
        registry, cfg, holdout, n_classes, device
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
    latency = (
        benchmark_inference(
            candidate,
            holdout.features,
            device,
            cfg.benchmark.batch_sizes,
            cfg.benchmark.iterations,
            cfg.benchmark.warmup,
        )
        if cfg.benchmark.enabled
        else []
    )
    tags = {
        "lockgate.data_digest": train_run.get("data_digest") or "",
        "lockgate.holdout_digest": holdout.digest,
        "lockgate.git_sha": ctx.git_sha,
        "lockgate.image_digest": train_run.get("image_digest") or "",
        "lockgate.verdict": decision.verdict,
        "lockgate.run_id": ctx.run_id,
        "lockgate.champion_version": champ_version or "none",
        **{f"metric.{k}": f"{v:.6g}" for k, v in result.metrics.items()},
    }
    registered = registry.register(
        cfg.model_name,
        train_run["model_uri"],
        {k: v for k, v in tags.items() if v},
        decision.passed,
    )
    images: list[tuple[str, str]] = []
    if result.confusion and plot_confusion(result.confusion, ctx.out / "confusion-matrix.png"):
        images.append(("confusion matrix", "confusion-matrix.png"))
    history_path = ctx.upstream(cfg.train) / "history.json"
    if history_path.is_file() and plot_history(
        json.loads(history_path.read_text()), ctx.out / "training-curve.png"
    ):
        images.append(("training curve", "training-curve.png"))
    flat: dict[str, Any] = {
        **result.metrics,
        "verdict": decision.verdict,
        "champion_version": champ_version or "none",
        "registered_version": registered.version,
    }
    for r in latency:
        flat[f"latency_p50_ms_b{r.batch_size}"] = round(r.p50_ms, 4)
        flat[f"latency_p99_ms_b{r.batch_size}"] = round(r.p99_ms, 4)
        flat[f"throughput_b{r.batch_size}"] = round(r.samples_per_s, 1)
    write_json(ctx.out / "metrics.json", flat)
    write_json(
        ctx.out / "evaluation.json",
        {
            "metrics": result.metrics,
            "champion_metrics": champ,
            "confusion": result.confusion,
            "checks": [c.__dict__ for c in decision.checks],
            "verdict": decision.verdict,
            "note": decision.note,
            "registered": registered.__dict__,
            "latency": [r.__dict__ for r in latency],
        },
    )
    (ctx.out / "report.md").write_text(
        render_report(result.metrics, champ, decision, latency, registered, images)
    )
    return decision


def main(ctx: StageContext) -> int:
    cfg = parse_evaluate_config(ctx.with_)
    Path(ctx.out).mkdir(parents=True, exist_ok=True)
    decision = evaluate(ctx, cfg)
    print(f"evaluate: {decision.note}", file=sys.stderr)
    for failure in decision.failures:
        print(f"FAILED {failure.name}: {failure.detail}", file=sys.stderr)
    return 0 if decision.passed else 1
