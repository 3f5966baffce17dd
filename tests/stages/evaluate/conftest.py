"""A real pipeline for the evaluate tests: the tabular-mlp reference data (prepared by its own
prepare.py), the train stage in-process, and an embedded MLflow store (SQLite) per test module."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
PIPELINE = REPO / "pipelines" / "tabular-mlp"
QUIET_MLFLOW = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "_MLFLOW_TELEMETRY_PRE_WARM_DATABRICKS_SDK": "false",
    "GIT_PYTHON_REFRESH": "quiet",
}


@pytest.fixture(scope="session")
def prepared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference pipeline's prepare.py run once for the session: its splits depend only on
    the script, so every module starts from a copy of the same files."""
    pytest.importorskip("torch")
    pytest.importorskip("mlflow")
    pytest.importorskip("sklearn")
    pytest.importorskip("pyarrow")
    out = tmp_path_factory.mktemp("prepared") / "out"
    subprocess.run(
        [sys.executable, "prepare.py"],
        cwd=PIPELINE,
        check=True,
        env={**os.environ, "LOCKGATE_OUT": str(out)},
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, prepared_data: Path) -> Path:
    os.environ.update(QUIET_MLFLOW)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    run = tmp_path_factory.mktemp("run")
    shutil.copytree(prepared_data, run / "prepare" / "out")
    return run


def stage_ctx(run: Path, stage: str, with_: dict[str, Any], state: Path, ins: dict[str, str]):
    from lockgate.stages.context import StageContext

    inputs = run / f"{stage}-in"
    inputs.mkdir(exist_ok=True)
    for name, target in ins.items():
        link = inputs / name
        if not link.exists():
            link.symlink_to(run / target / "out")
    return StageContext.from_env(
        {
            "LOCKGATE_WORKSPACE": str(PIPELINE),
            "LOCKGATE_IN": str(inputs),
            "LOCKGATE_OUT": str(run / stage / "out"),
            "LOCKGATE_STATE": str(state),
            "LOCKGATE_STAGE": stage,
            "LOCKGATE_RUN_ID": stage,
            "LOCKGATE_GIT_SHA": "abc123",
            "LOCKGATE_WITH": json.dumps(with_),
        }
    )


TRAIN_WITH = {
    "entrypoint": "model:build",
    "epochs": 6,
    "batch_size": 64,
    "seed": 1,
    "data": {"train": "in:prepare/train.parquet", "valid": "in:prepare/valid.parquet"},
    "params": {"lr": 0.003, "hidden": 32},
}
EVAL_WITH = {
    "model_name": "tabular-mlp",
    "data": "in:prepare/test.parquet",
    "thresholds": {"accuracy": ">= 0.9", "loss": "<= 0.5"},
    "max_regression": {"accuracy": 0.05, "loss": 0.05},
    "benchmark": {"batch_sizes": [1, 32], "iterations": 5, "warmup": 1},
}


@pytest.fixture
def train_and_evaluate(prepared: Path) -> Callable[..., tuple[int, Path]]:
    """Run train then evaluate as run ``tag`` against the module's MLflow store; returns
    evaluate's exit code and the run folder."""
    from lockgate.stages.evaluate import main as evaluate_main
    from lockgate.stages.train import main as train_main

    state = prepared / "state"

    def run(
        tag: str, train_with: dict[str, Any] | None = None, eval_with: dict[str, Any] | None = None
    ) -> tuple[int, Path]:
        folder = prepared / tag
        folder.mkdir()
        (folder / "prepare").symlink_to(prepared / "prepare")
        train_ctx = stage_ctx(
            folder, "train", {**TRAIN_WITH, **(train_with or {})}, state, {"prepare": "prepare"}
        )
        assert train_main(train_ctx) == 0
        eval_ctx = stage_ctx(
            folder,
            "evaluate",
            {**EVAL_WITH, **(eval_with or {})},
            state,
            {"prepare": "prepare", "train": "train"},
        )
        return evaluate_main(eval_ctx), folder

    return run


@pytest.fixture
def mlflow_client(prepared: Path) -> Any:
    from lockgate.stages.tracking_store import TrackingStore

    mlflow = TrackingStore.resolve(prepared / "state", None).activate()
    return mlflow.MlflowClient()
