"""Ingest from Google Cloud Storage (gcsfs against gcp-storage-emulator, with service-account
tokens from a real JWT-checking token endpoint) and Azure Blob Storage (adlfs against Azurite,
Shared Key and SAS checked): globs, partitioned prefixes, CSV and JSON lines; credentials only
from the stage's secrets, the host's Google and Azure settings planted and ignored; new objects
read exactly once; one clear line for each failure."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.ingest import main, object_stores
from tests.cloudstores import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    Azurite,
    GcsEmulator,
    free_port,
    new_private_key,
    pem,
)
from tests.stages.ingest.conftest import stage_context
from tests.stages.ingest.test_read_postgres import read_all
from tests.stages.ingest.test_read_s3 import _written


@dataclass
class Lake:
    """One bucket (GCS) or container (Azure) and the secrets that read it."""

    scheme: str
    bucket: str
    fs: Any
    secrets: dict[str, str]  # secret name -> value
    fields: dict[str, str]  # credential field -> secret name
    hidden: tuple[str, ...]  # values that must never be written or logged
    issued: list[str] = field(default_factory=list)  # access tokens granted during the test

    def put(self, key: str, rows: list[dict[str, Any]]) -> None:
        import polars as pl

        df, buf = pl.DataFrame(rows), io.BytesIO()
        if key.endswith(".parquet"):
            df.write_parquet(buf)
        elif key.endswith(".csv"):
            df.write_csv(buf)
        else:
            df.write_ndjson(buf)
        self.fs.pipe(f"{self.bucket}/{key}", buf.getvalue())

    def context(self, tmp: Path, with_: dict[str, Any], run: str = "1") -> Any:
        ctx = stage_context(tmp, with_, run)
        for name, value in self.secrets.items():
            (ctx.secrets_dir / name).write_text(value + "\n")
        return ctx

    def source(self, path: str, bucket: str | None = None) -> dict[str, Any]:
        url = f"{self.scheme}://{bucket or self.bucket}/{path}"
        return {"source": {"files": {"path": url, "credentials": self.fields}}}


def _gcs_lake(emulator: GcsEmulator) -> Iterator[Lake]:
    fs = emulator.filesystem()
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    fs.mkdir(bucket)
    account = emulator.tokens.service_account(f"reader-{bucket}@lake-project.iam")
    yield Lake(
        "gs",
        bucket,
        fs,
        {"gcs-key": json.dumps(account), "gcs-endpoint": emulator.endpoint},
        {"service_account_json": "gcs-key", "endpoint_url": "gcs-endpoint"},
        (account["private_key"],),
        emulator.tokens.granted,
    )
    fs.rm(bucket, recursive=True)


def _azure_lake(azurite: Azurite) -> Iterator[Lake]:
    fs = azurite.filesystem()
    container = f"lake-{uuid.uuid4().hex[:10]}"
    fs.mkdir(container)
    yield Lake(
        "az",
        container,
        fs,
        {"az-name": AZURITE_ACCOUNT, "az-key": AZURITE_KEY, "az-endpoint": azurite.endpoint},
        {"account_name": "az-name", "account_key": "az-key", "endpoint_url": "az-endpoint"},
        (AZURITE_KEY,),
    )
    fs.rm(container, recursive=True)


@pytest.fixture(params=["gs", "az"])
def lake(request: pytest.FixtureRequest) -> Iterator[Lake]:
    if request.param == "gs":
        yield from _gcs_lake(request.getfixturevalue("gcs_emulator"))
    else:
        yield from _azure_lake(request.getfixturevalue("azurite"))


@pytest.mark.parametrize(
    ("keys", "path"),
    [
        (["events/a.parquet", "events/b.parquet", "events/skip.txt"], "events/*.parquet"),
        (["hive/day=2024-05-01/p.parquet", "hive/day=2024-05-02/p.parquet"], "hive"),
        (["csv/a.csv", "csv/b.csv"], "csv/*.csv"),
        (["jsonl/a.jsonl", "jsonl/b.jsonl"], "jsonl"),
    ],
)
def test_objects_are_ingested_with_credentials_from_secrets_only(
    tmp_path: Path, lake: Lake, keys: list[str], path: str, capfd: pytest.CaptureFixture[str]
) -> None:
    for i, key in enumerate(keys):
        if key.endswith(".txt"):
            lake.fs.pipe(f"{lake.bucket}/{key}", b"not data")
            continue
        lake.put(key, [{"id": 10 * i + k, "v": f"r{i}{k}"} for k in range(3)])
    ctx = lake.context(tmp_path, lake.source(path))
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert sorted(data["id"].to_list()) == [0, 1, 2, 10, 11, 12]
    assert manifest["source"]["partitions"] == 2
    if path == "hive":
        assert sorted(set(data["day"].to_list())) == ["2024-05-01", "2024-05-02"]
    logs = capfd.readouterr()
    written = _written(tmp_path) + (logs.out + logs.err).encode()
    assert lake.scheme != "gs" or lake.issued, "the service account was granted no token"
    for value in (*lake.hidden, *lake.issued):
        assert value.encode() not in written


def test_new_objects_are_read_exactly_once(tmp_path: Path, lake: Lake) -> None:
    """A stream over a prefix reads, on each run, only the objects added since the last."""
    with_ = lake.source("events") | {"mode": "stream"}

    def run(n: str) -> tuple[Any, dict[str, Any]]:
        ctx = lake.context(tmp_path, with_, n)
        assert main(ctx) == 0
        return read_all(ctx.out)

    for day in ("01", "02"):
        lake.put(f"events/day=2024-05-{day}/p.parquet", [{"id": int(day)}])
    data, manifest = run("1")
    assert manifest["this_run"] == {"batches": 2, "rows": 2} and data.height == 2
    lake.put("events/day=2024-05-03/p.parquet", [{"id": 3}, {"id": 4}])
    data, manifest = run("2")
    assert manifest["this_run"] == {"batches": 1, "rows": 2}
    assert sorted(data["id"].to_list()) == [1, 2, 3, 4]
    data, manifest = run("3")
    assert manifest["this_run"] == {"batches": 0, "rows": 0} and data.height == 4
    for value in lake.hidden:
        assert value.encode() not in _written(tmp_path)


def _wrong_key(lake: Lake) -> None:
    if lake.scheme == "gs":
        other = json.loads(lake.secrets["gcs-key"])
        other["private_key"] = pem(new_private_key())
        lake.secrets["gcs-key"] = json.dumps(other)
    else:
        lake.secrets["az-key"] = "A" * 86 + "=="


@pytest.mark.parametrize("failure", ["wrong key", "missing bucket", "unreachable"])
def test_store_failures_are_one_clear_line(
    tmp_path: Path, lake: Lake, failure: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.put("events/a.parquet", [{"id": 1}])
    bucket = lake.bucket
    if failure == "wrong key":
        _wrong_key(lake)
        message = "the store refused the credentials: check the secrets named in"
    elif failure == "missing bucket":
        bucket = "no-such-bucket"
        message = "bucket 'no-such-bucket' does not exist"
    else:
        endpoint = "gcs-endpoint" if lake.scheme == "gs" else "az-endpoint"
        lake.secrets[endpoint] = f"http://127.0.0.1:{free_port()}/{AZURITE_ACCOUNT}"
        message = "no answer within 1 s; cannot reach the store: check endpoint_url"
        monkeypatch.setattr(object_stores, "LIST_TIMEOUT_S", 1.0)  # 15 s in use
    ctx = lake.context(tmp_path, lake.source("events/*.parquet", bucket))
    started = time.monotonic()
    with pytest.raises(LockgateError, match=message) as caught:
        main(ctx)
    assert time.monotonic() - started < 10
    text = str(caught.value)
    assert text.startswith(f"with.source.files.path: cannot list {lake.scheme}://{bucket}/")
    assert "\n" not in text
    for value in lake.hidden + tuple(lake.secrets.values()):
        if "127.0.0.1" not in value:
            assert value not in text
