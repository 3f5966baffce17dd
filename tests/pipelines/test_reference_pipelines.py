"""The reference pipelines as drafted in their lockgate.yaml: prepare, train and evaluate with
the exact ``with:`` blocks of the file, on real data, torch (CPU) and an embedded MLflow store.
This keeps the drafts honest: their thresholds must be met by their own training settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["tabular-mlp", "digits-cnn"])
def test_reference_pipeline_trains_and_passes_its_own_gate(tmp_path: Path, pipeline: str) -> None:
    for module in ("torch", "mlflow", "sklearn", "pyarrow", "pandas"):
        pytest.importorskip(module)
    from lockgate.stages.context import StageContext
    from lockgate.stages.evaluate import main as evaluate_main
    from lockgate.stages.train import main as train_main

    os.environ.update({"MLFLOW_DISABLE_TELEMETRY": "true", "GIT_PYTHON_REFRESH": "quiet"})
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    folder = REPO / "pipelines" / pipeline
    spec = yaml.safe_load((folder / "lockgate.yaml").read_text())
    assert spec["name"] == pipeline
    assert list(spec["stages"]) == ["prepare", "data-check", "train", "evaluate"]
    ins = tmp_path / "in"
    subprocess.run([sys.executable, *spec["stages"]["prepare"]["run"][1:]], cwd=folder,
                   env={**os.environ, "LOCKGATE_OUT": str(ins / "prepare")}, check=True,
                   capture_output=True)

    def ctx(stage: str) -> StageContext:
        return StageContext.from_env({
            "LOCKGATE_WORKSPACE": str(folder), "LOCKGATE_IN": str(ins),
            "LOCKGATE_OUT": str(ins / stage), "LOCKGATE_STATE": str(tmp_path / "state"),
            "LOCKGATE_STAGE": stage, "LOCKGATE_WITH": json.dumps(spec["stages"][stage]["with"]),
        })

    assert train_main(ctx("train")) == 0
    assert evaluate_main(ctx("evaluate")) == 0
    metrics = json.loads((ins / "evaluate" / "metrics.json").read_text())
    assert metrics["verdict"] == "pass"
    assert metrics["registered_version"] == "1"
