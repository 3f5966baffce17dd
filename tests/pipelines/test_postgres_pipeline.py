"""The postgres-mlp reference pipeline end to end through the real CLI and the local executor:
a real PostgreSQL cluster, ingest in micro-batches, data-check and train (real PyTorch) on the
ingest manifest; new rows in the table reach the next run, and only those are read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.pgcluster import PASSWORD, USER
from tests.projects import REPO_ROOT, last_record, lockgate, states
from tests.stages.ingest.conftest import pg_cluster  # noqa: F401  (the session's cluster)


def _seed(root: Path, port: int, *extra: str) -> None:
    env = {
        **os.environ,
        "PGHOST": "127.0.0.1",
        "PGPORT": str(port),
        "PGUSER": USER,
        "PGPASSWORD": PASSWORD,
        "PGDATABASE": "postgres",
    }
    subprocess.run(
        [sys.executable, "seed.py", *extra],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def _manifest(root: Path) -> dict[str, Any]:
    return json.loads((root / "export" / "ingest" / "manifest.json").read_text())


@pytest.mark.slow
def test_postgres_pipeline_ingests_checks_and_trains(
    pg_cluster: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    import psycopg

    with psycopg.connect(pg_cluster.conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS patients")
    root = tmp_path / "postgres-mlp"
    shutil.copytree(REPO_ROOT / "pipelines" / "postgres-mlp", root)
    spec = root / "lockgate.yaml"
    spec.write_text(spec.read_text().replace("port: 5432", f"port: {pg_cluster.port}"))
    _seed(root, pg_cluster.port, "--rows", "400")
    env = {"PG_PASSWORD": PASSWORD, "MLFLOW_DISABLE_TELEMETRY": "true"}
    stages = ["ingest", "data-check", "train"]

    first = lockgate(
        "run", "--executor", "local", "--export-dir", "export", cwd=root, env=env, timeout=900
    )
    assert first.code == 0, first.stderr[-4000:]
    assert states(last_record(root)) == dict.fromkeys(stages, "ok")
    manifest = _manifest(root)
    assert manifest["rows"] == 400 and manifest["this_run"] == {"batches": 2, "rows": 400}
    assert "id" not in manifest["schema"] and manifest["schema"]["label"] == "Int32"
    assert (root / "export" / "train" / "model").is_dir()
    assert PASSWORD not in first.stdout + first.stderr

    _seed(root, pg_cluster.port)
    second = lockgate(
        "run", "--executor", "local", "--export-dir", "export", cwd=root, env=env, timeout=900
    )
    assert second.code == 0, second.stderr[-4000:]
    manifest = _manifest(root)
    assert manifest["rows"] == 569
    assert manifest["this_run"] == {"batches": 1, "rows": 169}
    assert manifest["watermark"] == {"column": "id", "value": 569}
    check = json.loads((root / "export" / "data-check" / "data-check.json").read_text())
    assert check["passed"] is True
    for f in (root / ".lockgate").rglob("*"):
        if f.is_file() and f.stat().st_size < 5_000_000:
            assert PASSWORD.encode() not in f.read_bytes(), f


@pytest.mark.slow
def test_the_pipeline_runs_sealed_at_rest(
    pg_cluster: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The same pipeline with `encryption:` on: ingest keeps its dataset sealed, every output at
    rest is sealed, data-check and train read plain Parquet, and a later job's train reads the
    sealed exports (what CI passes between jobs) through --upstream-dir."""
    import psycopg

    with psycopg.connect(pg_cluster.conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS patients")
    root = tmp_path / "postgres-mlp"
    shutil.copytree(REPO_ROOT / "pipelines" / "postgres-mlp", root)
    key = os.urandom(32).hex()
    (root / "data.key").write_text(key)
    spec = root / "lockgate.yaml"
    text = spec.read_text().replace("port: 5432", f"port: {pg_cluster.port}")
    text = text.replace("stages:\n", "encryption: {key: data-key}\nstages:\n", 1).replace(
        "secrets:\n", "secrets:\n  data-key: {file: data.key}\n", 1
    )
    spec.write_text(text)
    _seed(root, pg_cluster.port, "--rows", "400")
    env = {"PG_PASSWORD": PASSWORD, "MLFLOW_DISABLE_TELEMETRY": "true"}
    first = lockgate(
        "run", "--executor", "local", "--export-dir", "export", cwd=root, env=env, timeout=900
    )
    assert first.code == 0, first.stderr[-4000:]
    assert states(last_record(root)) == dict.fromkeys(["ingest", "data-check", "train"], "ok")
    assert json.loads((root / "export" / "train" / "metrics.json").read_text())  # readable
    sealed_parts = list((root / ".lockgate" / "state" / "ingest").rglob("*.parquet.sealed"))
    assert len(sealed_parts) == 2
    checkpoints = list((root / ".lockgate" / "state" / "train").rglob("step-*.pt"))
    assert checkpoints and all(p.read_bytes().startswith(b"LGSEAL2\n") for p in checkpoints)
    for f in [*(root / ".lockgate").rglob("*"), *(root / "export").rglob("*")]:
        if f.is_file() and not f.is_symlink():
            data = f.read_bytes()
            assert b"PAR1" not in data, f"plain Parquet at rest: {f}"
            assert key.encode() not in data and bytes.fromhex(key) not in data, f
    assert key not in first.stdout + first.stderr

    (root / ".lockgate" / "cache").rename(root / "old-cache")  # a fresh CI job: no cache
    later = lockgate(
        "run", "--executor", "local", "--stage", "train", "--only", "--upstream-dir", "export",
        cwd=root, env=env, timeout=900,
    )  # fmt: skip
    assert later.code == 0, later.stderr[-4000:]
    assert states(last_record(root)) == {"train": "ok"}
