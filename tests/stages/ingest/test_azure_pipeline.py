"""An Azure ingest through the real CLI and the local executor: a service principal logs in at
a token endpoint that answers as Entra ID's, over HTTPS, and reads Azurite over HTTPS, both
trusted through the CA file the spec names (see test_read_azure_principal.py for what is
stubbed). Two stream runs; everything lockgate wrote — run records, logs, state, exports —
and its output are grepped for the client secret and every token granted."""

from __future__ import annotations

import io
import json
import shutil
import uuid
from pathlib import Path

import pytest

from tests.azure_https import AzureHttps
from tests.cloudstores import free_port
from tests.projects import last_record, lockgate, states, write_project

SPEC = """\
version: 1
name: from-azure
image: {base: lockgate/debian:bookworm}
secrets:
  az-tenant: {env: AZ_TENANT}
  az-client: {env: AZ_CLIENT}
  az-secret: {env: AZ_SECRET}
  az-endpoint: {env: AZ_ENDPOINT}
  az-login: {env: AZ_LOGIN}
stages:
  pull:
    uses: lockgate/ingest
    secrets: [az-tenant, az-client, az-secret, az-endpoint, az-login]
    with:
      source:
        files:
          path: az://CONTAINER/events
          credentials:
            tenant_id: az-tenant
            client_id: az-client
            client_secret: az-secret
            endpoint_url: az-endpoint
            authority_host: az-login
          ca_file: certs/ca.pem
      mode: stream
"""


def _put(servers: AzureHttps, container: str, key: str, ids: list[int]) -> None:
    import polars as pl

    buf = io.BytesIO()
    pl.DataFrame({"id": ids}).write_parquet(buf)
    servers.writer.pipe(f"{container}/{key}", buf.getvalue())


def _everything(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


@pytest.mark.slow
def test_a_service_principal_stream_through_the_cli_keeps_its_secrets(
    tmp_path: Path, azure_https: AzureHttps
) -> None:
    container = f"cli-{uuid.uuid4().hex[:10]}"
    azure_https.writer.mkdir(container)
    _put(azure_https, container, "events/day=2024-05-01/p.parquet", [1, 2])
    root = write_project(tmp_path / "project", SPEC.replace("CONTAINER", container))
    (root / "certs").mkdir()
    shutil.copy(azure_https.ca, root / "certs" / "ca.pem")
    client_id, secret = azure_https.login.app_with_secret()
    decoy = f"https://127.0.0.1:{free_port()}"
    env = {
        "AZ_TENANT": azure_https.login.tenant,
        "AZ_CLIENT": client_id,
        "AZ_SECRET": secret,
        "AZ_ENDPOINT": azure_https.store.endpoint,
        "AZ_LOGIN": azure_https.login.authority(),
        # the host's own Azure settings, which no stage may use
        "AZURE_AUTHORITY_HOST": decoy,
        "AZURE_CLIENT_SECRET": "hostile",
        "AZURE_STORAGE_CONNECTION_STRING": f"BlobEndpoint={decoy}/x;",
    }
    before = len(azure_https.login.granted)
    args = ("run", "--executor", "local", "--export-dir", "export")
    first = lockgate(*args, cwd=root, env=env, timeout=300)
    assert first.code == 0, first.stderr[-4000:]
    _put(azure_https, container, "events/day=2024-05-02/p.parquet", [3])
    second = lockgate(*args, cwd=root, env=env, timeout=300)
    assert second.code == 0, second.stderr[-4000:]
    assert states(last_record(root)) == {"pull": "ok"}
    manifest = json.loads((root / "export" / "pull" / "manifest.json").read_text())
    assert manifest["rows"] == 3 and manifest["this_run"] == {"batches": 1, "rows": 1}
    granted = azure_https.login.granted[before:]
    assert len(granted) == 2, "one token per run, from the declared login host"
    written = (
        _everything(root) + (first.stdout + first.stderr + second.stdout + second.stderr).encode()
    )
    assert (root / ".lockgate" / "runs").is_dir()
    for value in (secret, *granted):
        assert value.encode() not in written
    azure_https.writer.rm(container)
