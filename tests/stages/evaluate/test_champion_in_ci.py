"""The champion in CI: a store that dies with the job is refused when a gate needs a champion,
and a real tracking server (``mlflow server``, SQLite backend, started here) carries the
champion from one CI pipeline to the next, each in its own checkout and state folder, every
stage run by the real CLI as a generated CI job runs it."""

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
from conftest import EVAL_WITH, PIPELINE, TRAIN_WITH

from lockgate.stages.evaluate import ChampionUnreachable
from tests.conftest import missing_component
from tests.projects import lockgate


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


def _ci_pipeline(workspace: Path, seed: int, server: str) -> tuple[int, Path, str]:
    """One CI pipeline as the generated files run it: a fresh checkout (its own state folder),
    then one ``lockgate run --stage NAME --only --executor local`` per job, the job carrying
    CI=true and the tracking server as the CI secret/variable MLFLOW_TRACKING_URI."""
    workspace.mkdir()
    for name in ("prepare.py", "model.py", "requirements.txt"):
        shutil.copy(PIPELINE / name, workspace / name)
    (workspace / "lockgate.yaml").write_text(
        json.dumps(
            {
                "version": 1,
                "name": "tabular-mlp",
                "image": {"base": "lockgate/debian:bookworm", "requirements": "requirements.txt"},
                "stages": {
                    "prepare": {"run": ["python3", "prepare.py"], "inputs": ["prepare.py"]},
                    "train": {
                        "uses": "lockgate/train",
                        "needs": ["prepare"],
                        "inputs": ["model.py"],
                        "with": {**TRAIN_WITH, "seed": seed, "experiment": "tabular-mlp"},
                    },
                    "evaluate": {
                        "uses": "lockgate/evaluate",
                        "needs": ["prepare", "train"],
                        "with": EVAL_WITH,
                    },
                },
            }
        )
    )
    env = {"CI": "true", "GITLAB_CI": "true", "MLFLOW_TRACKING_URI": server}
    logs = ""
    for stage in ("prepare", "train", "evaluate"):
        done = lockgate(
            "run", "--stage", stage, "--only", "--executor", "local",
            "--upstream-dir", ".lockgate/out", "--export-dir", ".lockgate/out",
            cwd=workspace, env=env, timeout=600,
        )  # fmt: skip
        logs += done.stdout + done.stderr
        if done.code != 0:
            return done.code, workspace / ".lockgate" / "out", logs
    return 0, workspace / ".lockgate" / "out", logs


def test_second_ci_run_compares_against_the_first_through_the_server(
    prepared: Path, tracking_server: str
) -> None:
    """Through the real CLI and the local executor, as every generated CI job runs a stage:
    regression for the tracking URI that the job had but the stage never saw."""
    rc, first, logs = _ci_pipeline(prepared / "ci-run-1", 1, tracking_server)
    assert rc == 0, logs[-3000:]
    assert not (prepared / "ci-run-1" / ".lockgate" / "state" / "mlflow").exists()
    assert "No champion registered yet" in (first / "evaluate" / "report.md").read_text()
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_server, registry_uri=tracking_server)
    client.set_registered_model_alias("tabular-mlp", "champion", "1")  # what a promotion does

    rc, second, logs = _ci_pipeline(prepared / "ci-run-2", 2, tracking_server)
    evaluation = json.loads((second / "evaluate" / "evaluation.json").read_text())
    assert evaluation["champion_metrics"]["accuracy"] > 0.9, logs[-3000:]
    assert {"regression accuracy", "regression loss"} <= {c["name"] for c in evaluation["checks"]}
    assert "Compared with champion version 1" in (second / "evaluate" / "report.md").read_text()
    assert str(client.get_model_version_by_alias("tabular-mlp", "candidate").version) == "2"


def test_a_tracking_store_password_stays_out_of_everything_lockgate_keeps(
    prepared: Path,
) -> None:
    """MLFLOW_TRACKING_URI may name a database store with its user and password in the URL
    (here a real PostgreSQL cluster, password authentication). Train and evaluate reach it
    through the job's variable; train's record of the store (train-run.json, which CI ships as
    an artifact and the cache keeps) names it without them, evaluate finds the whole URL again
    in the job, and no log, record, cache entry or output holds the password."""
    from tests.pgcluster import PASSWORD, USER, pg_bin, start_cluster

    if pg_bin() is None:
        missing_component("PostgreSQL server binaries are missing: apt-get install postgresql")
    cluster = start_cluster()
    try:
        where = f"127.0.0.1:{cluster.port}/postgres"
        store = f"postgresql+psycopg://{USER}:{PASSWORD}@{where}"
        rc, out, logs = _ci_pipeline(prepared / "ci-db-store", 1, store)
        assert rc == 0, logs[-3000:]
        run = json.loads((out / "train" / "train-run.json").read_text())
        assert run["tracking_uri"] == f"postgresql+psycopg://{where}"
        assert "No champion registered yet" in (out / "evaluate" / "report.md").read_text()
        assert PASSWORD not in logs
        kept = [p for p in (prepared / "ci-db-store").rglob("*") if p.is_file()]
        assert len(kept) > 20  # outputs, records, logs, cache entries: a real search
        holding = [p for p in kept if PASSWORD.encode() in p.read_bytes()]
        assert not holding, holding
    finally:
        cluster.stop()
