"""A real PostgreSQL cluster, a real S3 API server (moto's) and GCS and Azure Blob emulators for
the ingest tests, and a helper that builds the stage context of one run.

The cluster is a throwaway: initdb + pg_ctl on a free loopback port, stopped and deleted after
the session. Setup: ``apt-get install -y postgresql`` (scripts/setup-test-env does it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.stages.context import StageContext
from tests.azure_https import AzureHttps, start_azure_https
from tests.cloudstores import Azurite, GcsEmulator, azurite_bin, start_azurite, start_gcs
from tests.conftest import REPO_ROOT, unavailable
from tests.pgcluster import PASSWORD, USER, Cluster, pg_bin, start_cluster
from tests.s3store import S3Store, start_store


@pytest.fixture(scope="session")
def pg_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    pytest.importorskip("psycopg", reason="pip install -e '.[ingest]'")
    if pg_bin() is None:
        unavailable(request.config, "PostgreSQL is not installed: run scripts/setup-test-env")
    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def pg_tls_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A second cluster that speaks TLS, with a certificate from a test CA."""
    pytest.importorskip("psycopg", reason="pip install -e '.[ingest]'")
    if pg_bin() is None or shutil.which("openssl") is None:
        unavailable(request.config, "PostgreSQL or openssl is missing: run scripts/setup-test-env")
    cluster = start_cluster(tls=True)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def s3_store(request: pytest.FixtureRequest) -> Iterator[S3Store]:
    """moto's S3 server (a real HTTP server speaking the S3 API) with signatures checked."""
    for module in ("moto.server", "s3fs", "boto3"):
        try:
            __import__(module)
        except ImportError:
            unavailable(
                request.config,
                f"{module} is missing: pip install -e '.[ingest-s3]' -r requirements/test.txt",
            )
    store = start_store()
    yield store
    store.stop()


def _need_modules(request: pytest.FixtureRequest, extra: str, *modules: str) -> None:
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            unavailable(
                request.config,
                f"{module} is missing: pip install -e '.[{extra}]' -r requirements/test.txt",
            )


@pytest.fixture(scope="session")
def gcs_emulator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GcsEmulator]:
    """gcp-storage-emulator (the GCS JSON API) and a service-account token endpoint."""
    _need_modules(request, "ingest-gcs", "gcsfs", "gcp_storage_emulator", "cryptography")
    emulator = start_gcs(tmp_path_factory.mktemp("gcs") / "emulator.log")
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def azurite(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Azurite]:
    """Azurite's blob service with its development account (Shared Key and SAS checked)."""
    _need_modules(request, "ingest-azure", "adlfs", "azure.storage.blob")
    binary = azurite_bin()
    if binary is None:
        unavailable(request.config, "azurite-blob is not installed: run scripts/setup-test-env")
    store = start_azurite(str(binary), tmp_path_factory.mktemp("azurite") / "azurite.log")
    yield store
    store.stop()


@pytest.fixture(scope="session")
def azure_https(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AzureHttps]:
    """Azurite over HTTPS taking bearer tokens, and an Entra ID token endpoint over HTTPS, both
    with certificates from one test CA."""
    _need_modules(request, "ingest-azure", "adlfs", "azure.storage.blob", "azure.identity")
    binary = azurite_bin()
    if binary is None:
        unavailable(request.config, "azurite-blob is not installed: run scripts/setup-test-env")
    servers = start_azure_https(str(binary), tmp_path_factory.mktemp("azure-https"))
    yield servers
    servers.stop()


@pytest.fixture()
def pg(pg_cluster: Cluster) -> Iterator[Any]:
    """A connection in autocommit mode; every test's tables are dropped after it."""
    import psycopg

    conn = psycopg.connect(pg_cluster.conninfo, autocommit=True)
    conn.execute("SET lock_timeout = '20s'")  # a connection left open fails the test, not hangs
    conn.execute("DROP SCHEMA IF EXISTS t CASCADE")
    conn.execute("CREATE SCHEMA t")
    yield conn
    conn.execute("DROP SCHEMA IF EXISTS t CASCADE")
    conn.close()


def postgres_source(cluster: Cluster, **extra: Any) -> dict[str, Any]:
    return {"port": cluster.port, "user": USER, "password": "pg-password", **extra}


def stage_context(root: Path, with_: dict[str, Any], run: str = "1") -> StageContext:
    secrets = root / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    (secrets / "pg-password").write_text(PASSWORD + "\n")
    (root / "ws").mkdir(exist_ok=True)
    return StageContext(
        workspace=root / "ws",
        inputs=root / "in",
        out=root / f"out-{run}",
        secrets_dir=secrets,
        state=root / "state",
        run_id=run,
        stage="ingest",
        git_sha="",
        with_=with_,
    )


def start_stage_process(ctx: StageContext, with_: dict[str, Any], log: Path) -> subprocess.Popen:
    """The ingest stage as its own process, as an executor starts it (to be killed mid-run);
    its stderr goes to ``log``."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "LOCKGATE_WORKSPACE": str(ctx.workspace),
        "LOCKGATE_IN": str(ctx.inputs),
        "LOCKGATE_OUT": str(ctx.out),
        "LOCKGATE_SECRETS": str(ctx.secrets_dir),
        "LOCKGATE_STATE": str(ctx.state),
        "LOCKGATE_STAGE": "ingest",
        "LOCKGATE_WITH": json.dumps(with_),
    }
    with open(log, "wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "lockgate", "stage", "ingest"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
