"""A gs:// ingest over TLS under the Docker executor, trusting the project's ``ca_file``: the GCS
emulator and its token endpoint on the container bridge's gateway, each behind a TLS proxy
(tests/tls_proxy.py) whose certificate for that address comes from a CA that only the
project's ``certs/ca.pem`` names. The stage reads the file from the project mounted in its
container; the token grant and the listing both go over TLS. A project whose file holds
another CA fails in one line with nothing sent to either endpoint."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bridge import bridge_gateway
from tests.cloudstores import GcsEmulator, start_gcs
from tests.engine.tls_ca import make_tls
from tests.projects import last_record, lockgate, write_project
from tests.stages.ingest.conftest import _need_modules
from tests.stages.ingest.test_s3_pipeline import IMAGE_REQUIREMENTS
from tests.tls_proxy import TlsProxy

SPEC = """\
version: 1
name: gcs-tls
image: {base: BASE, requirements: requirements.txt}
secrets:
  gcs-key: {env: GCS_KEY}
  gcs-endpoint: {env: GCS_ENDPOINT}
stages:
  pull:
    uses: lockgate/ingest
    secrets: [gcs-key, gcs-endpoint]
    with:
      source:
        files:
          path: gs://BUCKET/events
          credentials: {service_account_json: gcs-key, endpoint_url: gcs-endpoint}
          ca_file: certs/ca.pem
"""


@pytest.fixture(scope="module")
def bridge_gcs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, docker_client: Any
) -> Iterator[tuple[GcsEmulator, str]]:
    _need_modules(request, "ingest-gcs", "gcsfs", "gcp_storage_emulator", "cryptography")
    gateway, _ = bridge_gateway(docker_client)
    emulator = start_gcs(tmp_path_factory.mktemp("gcs-tls") / "emulator.log", host=gateway)
    yield emulator, gateway
    emulator.stop()


@pytest.mark.slow
@pytest.mark.docker
def test_a_containers_gcs_read_over_tls_trusts_the_projects_ca_file(
    tmp_path: Path, bridge_gcs: tuple[GcsEmulator, str], base_image: str
) -> None:
    import polars as pl

    emulator, gateway = bridge_gcs
    tls = make_tls(tmp_path / "tls", gateway)
    store = TlsProxy(emulator.endpoint, tls, host=gateway)
    login = TlsProxy(emulator.tokens.url.removesuffix("/token"), tls, host=gateway)
    fs = emulator.filesystem()
    bucket = f"tls-{uuid.uuid4().hex[:10]}"
    fs.mkdir(bucket)
    buf = io.BytesIO()
    pl.DataFrame({"id": [6, 7]}).write_parquet(buf)
    fs.pipe(f"{bucket}/events/day=2024-05-01/p.parquet", buf.getvalue())
    account = emulator.tokens.service_account(f"reader-{bucket}@lake-project.iam")
    account["token_uri"] = f"{login.url}/token"
    env = {"GCS_KEY": json.dumps(account), "GCS_ENDPOINT": store.url}
    spec = SPEC.replace("BUCKET", bucket).replace("BASE", base_image)
    try:
        for trusted in (True, False):
            ca = tls.ca if trusted else make_tls(tmp_path / "other", gateway).ca
            files = {"requirements.txt": IMAGE_REQUIREMENTS, "certs/ca.pem": ca.read_text()}
            root = write_project(tmp_path / f"project-{trusted}", spec, files)
            sent, granted = store.sent + login.sent, len(emulator.tokens.granted)
            run = ("run", "--executor", "docker", "--export-dir", "export")
            done = lockgate(*run, cwd=root, env=env, timeout=900)
            written = b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())
            written += (done.stdout + done.stderr).encode()
            key_body = account["private_key"].splitlines()[1]
            for value in (key_body, *emulator.tokens.granted):
                assert value.encode() not in written
            if trusted:
                assert done.code == 0, done.stderr[-4000:]
                manifest = json.loads((root / "export" / "pull" / "manifest.json").read_text())
                assert manifest["rows"] == 2
                assert last_record(root)["stages"][0]["image_id"].startswith("sha256:")
                assert len(emulator.tokens.granted) == granted + 1 and store.sent > 0
            else:
                assert done.code != 0 and "Traceback" not in done.stderr, done.stderr[-4000:]
                assert store.sent + login.sent == sent
                assert len(emulator.tokens.granted) == granted
                lines = [x for x in done.stderr.splitlines() if "certificate verify failed" in x]
                assert len(lines) == 1 and "with.source.files.ca_file" in lines[0], done.stderr
    finally:
        store.stop()
        login.stop()
        fs.rm(bucket, recursive=True)
