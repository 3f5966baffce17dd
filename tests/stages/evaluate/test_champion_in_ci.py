"""The champion in CI: a store that dies with the job is refused when a gate needs a champion,
and a real tracking server (``mlflow server``, SQLite backend, started here) carries the
champion from one CI-style run to the next, each run in its own workspace and state folder."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EVAL_WITH, TRAIN_WITH, stage_ctx

from lockgate.stages.evaluate import ChampionUnreachable
from tests.conftest import missing_component


def test_ci_with_an_ephemeral_store_refuses_a_required_champion(
    train_and_evaluate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(ChampionUnreachable, match="MLFLOW_TRACKING_URI") as caught:
        train_and_evaluate("ci-ephemeral")
    assert "with.champion: optional" in str(caught.value)


def test_ci_with_champion_optional_judges_on_thresholds(
    train_and_evaluate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    rc, run = train_and_evaluate("ci-optional", eval_with={"champion": "optional"})
    assert rc == 0
    assert json.loads((run / "evaluate" / "out" / "metrics.json").read_text())["verdict"] == "pass"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    if not mlflow_bin.is_file():
        missing_component("the mlflow command is not installed (pip install lockgate[train])")
    root = tmp_path_factory.mktemp("tracking-server")
    port = _free_port()
    log = (root / "server.log").open("w")
    server = subprocess.Popen(
        [
            str(mlflow_bin), "server",
            "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination", str(root / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}"
                )
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _ci_job(prepared: Path, workspace: Path, seed: int) -> tuple[int, Path]:
    """train then evaluate as two CI jobs would: a fresh workspace and state folder each."""
    from lockgate.stages.evaluate import main as evaluate_main
    from lockgate.stages.train import main as train_main

    workspace.mkdir()
    shutil.copytree(prepared / "prepare", workspace / "prepare", symlinks=True)
    train = stage_ctx(
        workspace, "train", {**TRAIN_WITH, "seed": seed}, workspace / "state-train",
        {"prepare": "prepare"},
    )  # fmt: skip
    assert train_main(train) == 0
    evaluate = stage_ctx(
        workspace, "evaluate", dict(EVAL_WITH), workspace / "state-evaluate",
        {"prepare": "prepare", "train": "train"},
    )  # fmt: skip
    return evaluate_main(evaluate), workspace


def test_second_ci_run_compares_against_the_first_through_the_server(
    prepared: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    rc, first = _ci_job(prepared, prepared / "ci-run-1", seed=1)
    assert rc == 0
    assert not (first / "state-evaluate" / "mlflow").exists()  # nothing stored locally
    report = (first / "evaluate" / "out" / "report.md").read_text()
    assert "No champion registered yet" in report
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_server, registry_uri=tracking_server)
    client.set_registered_model_alias("tabular-mlp", "champion", "1")  # what a promotion does

    rc, second = _ci_job(prepared, prepared / "ci-run-2", seed=2)
    evaluation = json.loads((second / "evaluate" / "out" / "evaluation.json").read_text())
    assert evaluation["champion_metrics"]["accuracy"] > 0.9
    assert {"regression accuracy", "regression loss"} <= {c["name"] for c in evaluation["checks"]}
    assert (
        "Compared with champion version 1"
        in (second / "evaluate" / "out" / "report.md").read_text()
    )
    assert str(client.get_model_version_by_alias("tabular-mlp", "candidate").version) == "2"
