"""The champion side of the gate: whether the tracking store can hold a champion at all (not in
CI with an embedded store), and the champion's metrics re-measured on this holdout set."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from lockgate.errors import LockgateError
from lockgate.stages.evaluate.config import EvaluateConfig
from lockgate.stages.evaluate.gate import GateCheck


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


def champion_metrics(
    registry: Any,
    cfg: EvaluateConfig,
    holdout: Any,
    n_classes: int,
    device: Any,
    opened: Callable[[str], AbstractContextManager[str]],
) -> tuple[dict[str, float] | None, str | None, GateCheck | None]:
    """Re-measure the champion on this holdout set, so both sides see the same data. ``opened``
    gives what to load a model URI from (a sealed model opened: :mod:`..sealed_models`)."""
    import mlflow.pytorch

    from lockgate.stages.evaluate.holdout import evaluate_model

    ref = registry.champion(cfg.model_name)
    if ref is None:
        return None, None, None
    try:
        with opened(ref.uri) as uri:
            model = mlflow.pytorch.load_model(uri, map_location=device)
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
