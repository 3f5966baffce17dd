"""The reference pipelines end to end through the real CLI: prepare, data-check, train (real
PyTorch on the CPU) and evaluate (real MLflow, embedded SQLite store), under the local executor
and — for the tabular pipeline — under the docker executor in a runner image built from the
pipeline's requirements, where the same seed gives the same model metrics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.projects import REPO_ROOT, last_record, lockgate, states

STAGES = ["prepare", "data-check", "train", "evaluate"]


def _copy(pipeline: str, target: Path) -> Path:
    shutil.copytree(
        REPO_ROOT / "pipelines" / pipeline, target, ignore=shutil.ignore_patterns(".lockgate")
    )
    return target


def _run(root: Path, executor: str) -> dict:
    result = lockgate(
        "run",
        "--executor",
        executor,
        "--export-dir",
        "export",
        cwd=root,
        env={"MLFLOW_DISABLE_TELEMETRY": "true"},
        timeout=1500,
    )
    assert result.code == 0, result.stderr[-4000:]
    record = last_record(root)
    assert states(record) == dict.fromkeys(STAGES, "ok")
    return record


def _metrics(root: Path, stage: str) -> dict:
    return json.loads((root / "export" / stage / "metrics.json").read_text())


@pytest.fixture(scope="module")
def tabular_local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tabular-mlp run once under the local executor: the local test checks that run, and the
    docker test compares its own run with it (same seed, same metrics and data files)."""
    root = _copy("tabular-mlp", tmp_path_factory.mktemp("local") / "tabular-mlp")
    _run(root, "local")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["tabular-mlp", "digits-cnn"])
def test_reference_pipeline_runs_end_to_end_locally(
    request: pytest.FixtureRequest, tmp_path: Path, pipeline: str
) -> None:
    if pipeline == "tabular-mlp":
        root = request.getfixturevalue("tabular_local")
    else:
        root = _copy(pipeline, tmp_path / pipeline)
        _run(root, "local")
    evaluation = _metrics(root, "evaluate")
    assert evaluation["verdict"] == "pass"
    assert evaluation["registered_version"] == "1"
    assert json.loads((root / "export" / "data-check" / "data-check.json").read_text())["passed"]
    assert (root / "export" / "train" / "model").is_dir()
    report = lockgate("report", cwd=root)
    assert report.code == 0, report.stderr
    assert "evaluate" in report.stdout and "accuracy" in report.stdout
    again = lockgate("run", "--executor", "local", cwd=root)
    assert again.code == 0
    assert set(states(last_record(root)).values()) == {"cached"}


@pytest.mark.slow
@pytest.mark.docker
def test_tabular_pipeline_under_docker_matches_local(
    tmp_path: Path, base_image: str, tabular_local: Path
) -> None:
    docker_root = _copy("tabular-mlp", tmp_path / "docker")
    local_root = tabular_local
    record = _run(docker_root, "docker")
    assert all(s["image_id"].startswith("sha256:") for s in record["stages"])
    timing = {"samples_per_s"}  # wall-clock speed differs between any two runs
    docker_train, local_train = _metrics(docker_root, "train"), _metrics(local_root, "train")
    assert {k: v for k, v in docker_train.items() if k not in timing} == {
        k: v for k, v in local_train.items() if k not in timing
    }
    assert "val_loss" in docker_train
    for stage in ("prepare", "data-check"):
        docker_files = sorted((docker_root / "export" / stage).rglob("*.parquet"))
        local_files = sorted((local_root / "export" / stage).rglob("*.parquet"))
        assert [p.read_bytes() for p in docker_files] == [p.read_bytes() for p in local_files]
