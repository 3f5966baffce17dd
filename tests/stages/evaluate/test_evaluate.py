"""The evaluate stage against a real MLflow registry (SQLite) and real trained models.

The tests of this module share one store and run in order: a first model (no champion),
then a champion chosen by the test, then a candidate that holds up and one that regresses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_first_model_passes_on_thresholds_and_becomes_candidate(
    train_and_evaluate, mlflow_client, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, run = train_and_evaluate("first")
    assert rc == 0
    mv = mlflow_client.get_model_version_by_alias("tabular-mlp", "candidate")
    assert str(mv.version) == "1"
    assert mv.tags["lockgate.verdict"] == "pass"
    assert mv.tags["lockgate.git_sha"] == "abc123"
    train_run = json.loads((run / "train" / "out" / "train-run.json").read_text())
    assert mv.tags["lockgate.data_digest"] == train_run["data_digest"]
    assert mv.run_id == train_run["mlflow_run_id"]
    report = (run / "evaluate" / "out" / "report.md").read_text()
    assert "No champion registered yet" in report
    assert "judged on thresholds alone" in capsys.readouterr().err
    assert (run / "evaluate" / "out" / "confusion-matrix.svg").read_text().startswith("<svg")
    assert "![confusion matrix](confusion-matrix.svg)" in report
    assert "![training curve](training-curve.svg)" in report
    assert (run / "evaluate" / "out" / "training-curve.svg").read_text().startswith("<svg")
    metrics = json.loads((run / "evaluate" / "out" / "metrics.json").read_text())
    assert metrics["verdict"] == "pass"
    assert metrics["accuracy"] >= 0.9
    assert metrics["latency_p50_ms_b1"] > 0
    assert metrics["throughput_b32"] > 0
    # The training run itself: params, per-epoch metrics, dataset input by digest.
    logged = mlflow_client.get_run(train_run["mlflow_run_id"])
    assert logged.data.params["lr"] == "0.003"
    assert len(mlflow_client.get_metric_history(logged.info.run_id, "val_loss")) == 6
    digests = {d.dataset.digest for d in logged.inputs.dataset_inputs}
    assert train_run["data_digest"].removeprefix("sha256:")[:32] in digests


def test_candidate_as_good_as_champion_passes(train_and_evaluate, mlflow_client) -> None:
    mlflow_client.set_registered_model_alias("tabular-mlp", "champion", "1")
    rc, run = train_and_evaluate("second", train_with={"seed": 2})
    assert rc == 0
    candidate = mlflow_client.get_model_version_by_alias("tabular-mlp", "candidate")
    assert str(candidate.version) == "2"
    assert str(mlflow_client.get_model_version_by_alias("tabular-mlp", "champion").version) == "1"
    evaluation = json.loads((run / "evaluate" / "out" / "evaluation.json").read_text())
    assert evaluation["champion_metrics"]["accuracy"] > 0.9
    names = {c["name"] for c in evaluation["checks"]}
    assert {"regression accuracy", "regression loss", "threshold accuracy"} <= names
    report = (run / "evaluate" / "out" / "report.md").read_text()
    assert "Compared with champion version 1" in report


def test_regressing_candidate_fails_and_is_not_aliased(
    train_and_evaluate, mlflow_client, capsys: pytest.CaptureFixture[str]
) -> None:
    # One epoch at a tiny learning rate: far worse than the champion, still above a low bar.
    rc, run = train_and_evaluate(
        "third",
        train_with={"epochs": 1, "params": {"lr": 0.0001, "hidden": 8}, "seed": 3},
        eval_with={"thresholds": {"accuracy": ">= 0.1"}},
    )
    assert rc == 1
    err = capsys.readouterr().err
    failed = [line for line in err.splitlines() if line.startswith("FAILED ")]
    assert any(line.startswith("FAILED regression loss:") for line in failed), err
    assert all("threshold" not in line for line in failed)
    versions = mlflow_client.search_model_versions("name='tabular-mlp'")
    third = max(versions, key=lambda v: int(v.version))
    assert str(third.version) == "3"
    assert third.tags["lockgate.verdict"] == "fail"
    assert str(mlflow_client.get_model_version_by_alias("tabular-mlp", "candidate").version) == "2"
    assert str(mlflow_client.get_model_version_by_alias("tabular-mlp", "champion").version) == "1"
    metrics = json.loads((Path(run) / "evaluate" / "out" / "metrics.json").read_text())
    assert metrics["verdict"] == "fail"


def test_version_count_reads_the_real_registry(mlflow_client) -> None:
    from lockgate.stages.evaluate.registry import ModelRegistry

    registry = ModelRegistry(mlflow_client)
    versions = mlflow_client.search_model_versions("name = 'tabular-mlp'")
    assert registry.version_count("tabular-mlp") == max(int(v.version) for v in versions) >= 2
    assert registry.version_count("no-such-model") == 0
