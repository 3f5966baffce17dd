"""An S3 ingest through the real CLI: moto's S3 server, a spec whose credentials come from
declared secrets, the local executor, and (with a Docker engine) the same spec in a container.
Everything lockgate wrote — run records, logs, state, exports — is grepped for the secrets."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bridge import bridge_gateway
from tests.projects import last_record, lockgate, states, write_project
from tests.s3store import S3Store, start_store

SPEC = """\
version: 1
name: from-s3
image: {base: lockgate/debian:bookworm}
secrets:
  s3-key-id: {env: S3_KEY_ID}
  s3-secret: {env: S3_SECRET}
  s3-endpoint: {env: S3_ENDPOINT}
stages:
  pull:
    uses: lockgate/ingest
    secrets: [s3-key-id, s3-secret, s3-endpoint]
    with:
      source:
        files:
          path: s3://BUCKET/events
          credentials:
            access_key_id: s3-key-id
            secret_access_key: s3-secret
            endpoint_url: s3-endpoint
      mode: stream
"""


# one stage image for the S3, GCS and Azure container tests (test_cloud_docker.py too): the
# engine's build cache then installs these wheels once per suite
IMAGE_REQUIREMENTS = (
    "polars>=1.20\npyarrow>=14\nfsspec>=2023.1\ncryptography>=42\n"
    "s3fs>=2024.2\ngcsfs>=2024.2\nadlfs>=2024.2\n"
)


def _put(store: S3Store, bucket: str, key: str, ids: list[int]) -> None:
    import polars as pl

    buf = io.BytesIO()
    pl.DataFrame({"id": ids}).write_parquet(buf)
    store.client().put_object(Bucket=bucket, Key=key, Body=buf.getvalue())


def _everything(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


@pytest.mark.slow
def test_an_s3_stream_through_the_cli_keeps_its_secrets(tmp_path: Path, s3_store: S3Store) -> None:
    bucket = f"cli-{uuid.uuid4().hex[:10]}"
    s3_store.client().create_bucket(Bucket=bucket)
    _put(s3_store, bucket, "events/day=2024-05-01/p.parquet", [1, 2])
    root = write_project(tmp_path / "project", SPEC.replace("BUCKET", bucket))
    env = {
        "S3_KEY_ID": s3_store.access_key_id,
        "S3_SECRET": s3_store.secret_access_key,
        "S3_ENDPOINT": s3_store.endpoint,
    }
    args = ("run", "--executor", "local", "--export-dir", "export")
    first = lockgate(*args, cwd=root, env=env, timeout=300)
    assert first.code == 0, first.stderr[-4000:]
    _put(s3_store, bucket, "events/day=2024-05-02/p.parquet", [3])
    second = lockgate(*args, cwd=root, env=env, timeout=300)
    assert second.code == 0, second.stderr[-4000:]
    assert states(last_record(root)) == {"pull": "ok"}
    manifest = json.loads((root / "export" / "pull" / "manifest.json").read_text())
    assert manifest["rows"] == 3 and manifest["this_run"] == {"batches": 1, "rows": 1}
    written = (
        _everything(root) + (first.stdout + first.stderr + second.stdout + second.stderr).encode()
    )
    assert (root / ".lockgate" / "runs").is_dir()
    for value in (s3_store.secret_access_key, s3_store.access_key_id):
        assert value.encode() not in written


@pytest.fixture(scope="module")
def bridge_store(docker_client: Any, s3_store: S3Store) -> Iterator[S3Store]:
    """A second moto server on the container bridge's gateway, which a stage container reaches
    (loopback inside a container is the container's own). ``s3_store`` first: it checks that
    moto and s3fs are installed."""
    gateway, _ = bridge_gateway(docker_client)
    store = start_store(gateway)
    yield store
    store.stop()


@pytest.mark.slow
@pytest.mark.docker
def test_an_s3_ingest_runs_in_a_container(
    tmp_path: Path, bridge_store: S3Store, base_image: str
) -> None:
    """The same spec under the Docker executor: s3fs inside the stage image, the secrets
    mounted as files, the store reached at the bridge's gateway."""
    bucket = f"ctr-{uuid.uuid4().hex[:10]}"
    bridge_store.client().create_bucket(Bucket=bucket)
    _put(bridge_store, bucket, "events/day=2024-05-01/p.parquet", [1, 2, 3])
    spec = SPEC.replace("BUCKET", bucket).replace(
        "image: {base: lockgate/debian:bookworm}",
        f"image: {{base: {base_image}, requirements: requirements.txt}}",
    )
    root = write_project(tmp_path / "project", spec, {"requirements.txt": IMAGE_REQUIREMENTS})
    env = {
        "S3_KEY_ID": bridge_store.access_key_id,
        "S3_SECRET": bridge_store.secret_access_key,
        "S3_ENDPOINT": bridge_store.endpoint,
    }
    done = lockgate(
        "run", "--executor", "docker", "--export-dir", "export", cwd=root, env=env, timeout=900
    )
    assert done.code == 0, done.stderr[-4000:]
    record = last_record(root)
    assert states(record) == {"pull": "ok"}
    assert record["stages"][0]["image_id"].startswith("sha256:")
    manifest = json.loads((root / "export" / "pull" / "manifest.json").read_text())
    assert manifest["rows"] == 3 and manifest["source"]["path"] == f"s3://{bucket}/events"
    written = _everything(root) + (done.stdout + done.stderr).encode()
    for value in (bridge_store.secret_access_key, bridge_store.access_key_id):
        assert value.encode() not in written


@pytest.mark.slow
@pytest.mark.docker
def test_a_containers_read_over_tls_trusts_the_projects_ca_file(
    tmp_path: Path, bridge_store: S3Store, base_image: str
) -> None:
    """The store behind TLS on the bridge's gateway, its certificate from a CA that only the
    project's ``certs/ca.pem`` names: the stage in its container reads the file from the
    mounted project and trusts it; a project whose file holds another CA fails in one line
    and sends nothing.
    (The TLS proxy is tests/tls_proxy.py: moto's S3 server behind it speaks plain HTTP.)"""
    from tests.engine.tls_ca import make_tls
    from tests.tls_proxy import TlsProxy

    gateway = bridge_store.endpoint.split("//", 1)[1].rsplit(":", 1)[0]
    tls = make_tls(tmp_path / "tls", gateway)
    proxy = TlsProxy(bridge_store.endpoint, tls, host=gateway)
    bucket = f"tls-{uuid.uuid4().hex[:10]}"
    bridge_store.client().create_bucket(Bucket=bucket)
    _put(bridge_store, bucket, "events/day=2024-05-01/p.parquet", [4, 5])
    env = {
        "S3_KEY_ID": bridge_store.access_key_id,
        "S3_SECRET": bridge_store.secret_access_key,
        "S3_ENDPOINT": proxy.url,
    }
    try:
        for trusted in (True, False):
            spec = SPEC.replace("BUCKET", bucket).replace(
                "image: {base: lockgate/debian:bookworm}",
                f"image: {{base: {base_image}, requirements: requirements.txt}}",
            )
            spec = spec.replace(
                "            endpoint_url: s3-endpoint\n",
                "            endpoint_url: s3-endpoint\n          ca_file: certs/ca.pem\n",
            )
            files = {"requirements.txt": IMAGE_REQUIREMENTS}
            files["certs/ca.pem"] = (
                tls.ca if trusted else make_tls(tmp_path / "o", gateway).ca
            ).read_text()
            root = write_project(tmp_path / f"project-{trusted}", spec, files)
            sent = proxy.sent
            run = ("run", "--executor", "docker", "--export-dir", "export")
            done = lockgate(*run, cwd=root, env=env, timeout=900)
            written = _everything(root) + (done.stdout + done.stderr).encode()
            for value in (bridge_store.secret_access_key, bridge_store.access_key_id):
                assert value.encode() not in written
            if trusted:
                assert done.code == 0, done.stderr[-4000:]
                manifest = json.loads((root / "export" / "pull" / "manifest.json").read_text())
                assert manifest["rows"] == 2 and proxy.sent > sent
                assert last_record(root)["stages"][0]["image_id"].startswith("sha256:")
            else:
                assert done.code != 0 and proxy.sent == sent
                assert "Traceback" not in done.stderr, done.stderr[-4000:]
                lines = [x for x in done.stderr.splitlines() if "certificate verify failed" in x]
                assert len(lines) == 1 and "with.source.files.ca_file" in lines[0], done.stderr
    finally:
        proxy.stop()
