"""Recording a training run in MLflow: params, per-epoch metrics, dataset input, the model.

The model is logged in MLflow's pickle format with cloudpickle carrying the user's model class
by value, so ``models:/...`` loads anywhere without the project source on ``sys.path``; the pip
requirements are given explicitly, so MLflow does not spend seconds inferring them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lockgate.stages.tracking_store import TrackingStore, TrackingStoreError


@dataclass(frozen=True)
class TrackedRun:
    run_id: str
    model_uri: str
    experiment_id: str
    tracking_uri: str


def flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_params(value, name + "."))
        else:
            flat[name] = str(value)[:500]
    return flat


def _carry_model_code_by_value(model: Any) -> None:
    """Make cloudpickle embed the module defining the model's class, unless it is a library."""
    import cloudpickle

    module = sys.modules.get(type(model).__module__)
    name = getattr(module, "__name__", "")
    if module is None or name.split(".")[0] in {"torch", "torchvision", "lockgate"}:
        return
    path = str(getattr(module, "__file__", "") or "")
    if "site-packages" in path or "dist-packages" in path:
        return
    with contextlib.suppress(ValueError):  # already registered
        cloudpickle.register_pickle_by_value(module)


def pip_requirements() -> list[str]:
    import torch

    torch_version = torch.__version__.split("+")[0]
    return [f"torch=={torch_version}", "cloudpickle"]


def unsupported_uri(uri: str) -> TrackingStoreError:
    """A tracking URI whose scheme MLflow has no store for, named by the setting it came from
    (``with.tracking_uri`` wins over ``MLFLOW_TRACKING_URI``, see TrackingStore.resolve)."""
    from lockgate.engine.stage_env import without_userinfo

    shown = without_userinfo(uri)
    if os.environ.get("MLFLOW_TRACKING_URI") == uri:
        setting = f"MLFLOW_TRACKING_URI {shown!r} (with.tracking_uri is not set)"
    else:
        setting = f"train stage with.tracking_uri {shown!r}"
    scheme = uri.partition(":")[0]
    return TrackingStoreError(
        f"{setting}: MLflow has no tracking store for {scheme!r} URIs; use "
        "http(s)://HOST for a tracking server, sqlite:///PATH, postgresql://, mysql://, "
        "file:PATH, databricks, or leave it unset for the embedded store (or set tracking: off)"
    )


class MlflowTrainRun:
    """An open MLflow run; use as a context manager around training."""

    def __init__(self, store: TrackingStore, experiment: str, tags: Mapping[str, str]) -> None:
        self.store = store
        self.mlflow = store.activate()  # sets MLflow's quiet environment before it is imported
        from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException

        try:
            store.check_not_moved()
            self.experiment_id = store.experiment_id(experiment)
        except UnsupportedModelRegistryStoreURIException:  # MLflow's, for tracking stores too
            raise unsupported_uri(store.uri) from None
        self.tags = dict(tags)
        self.run: Any = None

    def __enter__(self) -> MlflowTrainRun:
        self.run = self.mlflow.start_run(experiment_id=self.experiment_id, tags=self.tags)
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.mlflow.end_run(status="FINISHED" if exc_type is None else "FAILED")

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.mlflow.log_params(flat_params(params))

    def log_epoch(self, row: Mapping[str, float]) -> None:
        step = int(row.get("epoch", 0))
        self.mlflow.log_metrics({k: float(v) for k, v in row.items() if k != "epoch"}, step=step)

    def log_dataset(self, name: str, digest: str, source_uri: str, context: str) -> None:
        """Record the dataset by its precomputed digest; MLflow never reads the data."""
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.sources import (  # type: ignore[attr-defined]  # defined at import time
            LocalArtifactDatasetSource,
        )

        short = digest.removeprefix("sha256:")[:32]  # MLflow keeps at most 36 characters
        dataset = MetaDataset(  # type: ignore[abstract]  # MLflow's own concrete dataset class
            LocalArtifactDatasetSource(source_uri), name=name, digest=short
        )
        self.mlflow.log_input(dataset, context=context)

    def log_model(self, model: Any, metrics: Mapping[str, float]) -> str:
        import mlflow.pytorch

        _carry_model_code_by_value(model)
        # The pickle format is chosen on purpose (see the module docstring); MLflow warns about
        # it on every call, which only buries the stage's own output.
        quiet = logging.getLogger("mlflow.pytorch")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            info = mlflow.pytorch.log_model(
                model,
                name="model",
                pip_requirements=pip_requirements(),
                serialization_format="pickle",
                params={k: str(v) for k, v in metrics.items()},
            )
        finally:
            quiet.setLevel(level)
        return str(info.model_uri)

    def finish(self, model_uri: str) -> TrackedRun:
        return TrackedRun(self.run_id, model_uri, self.experiment_id, self.store.uri)
