"""An S3 ingest through the real CLI: moto's S3 server, a spec whose credentials come from
declared secrets, the local executor, and (with a Docker engine) the same spec in a container.
Everything lockgate wrote — run records, logs, state, exports — is grepped for the secrets."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pytest

from tests.projects import last_record, lockgate, states, write_project
from tests.s3store import S3Store

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
