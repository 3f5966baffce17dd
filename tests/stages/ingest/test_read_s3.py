"""Ingest from S3 through s3fs against moto's S3 server (a real HTTP server speaking the S3 API,
signatures checked): globs, partitioned folders, CSV and JSON lines; credentials only from the
stage's secrets; new objects read exactly once; one clear line for each failure."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.ingest import main
from tests.s3store import S3Store
from tests.stages.ingest.conftest import stage_context, start_stage_process
from tests.stages.ingest.test_read_postgres import read_all

FIELDS = {
    "access_key_id": "s3-key-id",
    "secret_access_key": "s3-secret",
    "endpoint_url": "s3-endpoint",
}


@pytest.fixture(scope="module")
def s3(s3_store: S3Store) -> Any:
    """One boto3 client for the module's uploads: building one costs ~0.1 s of CPU."""
    return s3_store.client()


@pytest.fixture()
def bucket(s3: Any) -> Iterator[str]:
    name = f"lake-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    yield name
    for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


def _encoded(key: str, rows: list[dict[str, Any]]) -> bytes:
    """``rows`` in the format the key's suffix names."""
    import polars as pl

    df = pl.DataFrame(rows)
    buf = io.BytesIO()
    if key.endswith(".parquet"):
        df.write_parquet(buf)
    elif key.endswith(".csv"):
        df.write_csv(buf)
    else:
        df.write_ndjson(buf)
    return buf.getvalue()


def _put(s3: Any, bucket: str, key: str, rows: list[dict[str, Any]]) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=_encoded(key, rows))


def _context(tmp: Path, store: S3Store, with_: dict[str, Any], run: str = "1") -> Any:
    ctx = stage_context(tmp, with_, run)
    (ctx.secrets_dir / "s3-key-id").write_text(store.access_key_id + "\n")
    (ctx.secrets_dir / "s3-secret").write_text(store.secret_access_key + "\n")
    (ctx.secrets_dir / "s3-endpoint").write_text(store.endpoint)
    return ctx


def _written(root: Path) -> bytes:
    """Every byte the stage wrote: outputs, state, journal and manifest (not its secrets)."""
    return b"".join(
        p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "secrets" not in p.relative_to(root).parts
    )


@pytest.mark.parametrize(
    ("keys", "url"),
    [
        (["events/a.parquet", "events/b.parquet", "events/skip.txt"], "events/*.parquet"),
        (["hive/day=2024-05-01/p.parquet", "hive/day=2024-05-02/p.parquet"], "hive"),
        (["csv/a.csv", "csv/b.csv"], "csv/*.csv"),
        (["jsonl/a.jsonl", "jsonl/b.jsonl"], "jsonl"),
    ],
)
def test_objects_are_ingested_with_credentials_from_secrets_only(
    tmp_path: Path,
    s3_store: S3Store,
    s3: Any,
    bucket: str,
    keys: list[str],
    url: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    for i, key in enumerate(keys):
        if key.endswith(".txt"):
            s3.put_object(Bucket=bucket, Key=key, Body=b"not data")
            continue
        _put(s3, bucket, key, [{"id": 10 * i + k, "v": f"r{i}{k}"} for k in range(3)])
    source = {"path": f"s3://{bucket}/{url}", "credentials": FIELDS}
    ctx = _context(tmp_path, s3_store, {"source": {"files": source}})
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    expected = sorted(10 * i + k for i in range(len(keys)) for k in range(3) if i < 2)
    assert sorted(data["id"].to_list()) == expected
    assert manifest["source"] == {"kind": "files", "path": source["path"], "partitions": 2}
    if url == "hive":
        assert sorted(set(data["day"].to_list())) == ["2024-05-01", "2024-05-02"]
    logs = capfd.readouterr()
    written = _written(tmp_path) + (logs.out + logs.err).encode()
    for value in (s3_store.secret_access_key, s3_store.access_key_id):
        assert value.encode() not in written


def test_new_objects_are_read_exactly_once(
    tmp_path: Path, s3_store: S3Store, s3: Any, bucket: str
) -> None:
    """A stream over a prefix: each run reads only the objects that arrived since, once. The
    credentials come as one secret holding a JSON object this time."""
    with_ = {
        "source": {"files": {"path": f"s3://{bucket}/events", "credentials": "s3"}},
        "mode": "stream",
    }
    blob = json.dumps(
        {
            "access_key_id": s3_store.access_key_id,
            "secret_access_key": s3_store.secret_access_key,
            "endpoint_url": s3_store.endpoint,
        }
    )

    def run(n: str) -> tuple[Any, dict[str, Any]]:
        ctx = _context(tmp_path, s3_store, with_, n)
        (ctx.secrets_dir / "s3").write_text(blob)
        assert main(ctx) == 0
        return read_all(ctx.out)

    for day in ("01", "02"):
        _put(s3, bucket, f"events/day=2024-05-{day}/p.parquet", [{"id": int(day)}])
    data, manifest = run("1")
    assert manifest["this_run"] == {"batches": 2, "rows": 2} and data.height == 2
    _put(s3, bucket, "events/day=2024-05-03/p.parquet", [{"id": 3}, {"id": 4}])
    data, manifest = run("2")
    assert manifest["this_run"] == {"batches": 1, "rows": 2}
    assert sorted(data["id"].to_list()) == [1, 2, 3, 4]
    assert manifest["watermark"]["value"] == "day=2024-05-03/p.parquet"
    data, manifest = run("3")
    assert manifest["this_run"] == {"batches": 0, "rows": 0} and data.height == 4
    assert s3_store.secret_access_key.encode() not in _written(tmp_path)


def test_the_hosts_aws_settings_are_never_used(
    tmp_path: Path, s3_store: S3Store, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Valid credentials in the host's environment and ~/.aws do not reach a stage that declares
    none; a hostile profile, endpoint and config file do not disturb one that declares its own."""
    _put(s3, bucket, "events/a.parquet", [{"id": 1}])
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    good = (
        f"[default]\naws_access_key_id = {s3_store.access_key_id}\n"
        f"aws_secret_access_key = {s3_store.secret_access_key}\n"
    )
    (home / ".aws" / "credentials").write_text(good)
    (home / ".aws" / "config").write_text("[default]\nendpoint_url = http://127.0.0.1:9\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_store.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_store.secret_access_key)
    path = f"s3://{bucket}/events/*.parquet"
    anonymous = {
        "source": {"files": {"path": path, "credentials": {"endpoint_url": "s3-endpoint"}}}
    }
    with pytest.raises(LockgateError, match="no credentials were declared"):
        main(_context(tmp_path, s3_store, anonymous, "anon"))

    monkeypatch.setenv("AWS_PROFILE", "absent-profile")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAHOSTKEY")
    declared = {"source": {"files": {"path": path, "credentials": FIELDS}}}
    ctx = _context(tmp_path, s3_store, declared, "declared")
    assert main(ctx) == 0
    assert read_all(ctx.out)[0]["id"].to_list() == [1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"s3-key-id": "AKIAWRONGKEY0000"}, "Access Key Id you provided does not exist"),
        ({"s3-secret": "not-the-secret-key-0123456789"}, "signature we calculated does not match"),
        ({"bucket": "no-such-bucket"}, "bucket 'no-such-bucket' does not exist"),
        ({"s3-endpoint": "http://127.0.0.1:9"}, "cannot reach the store: check endpoint_url"),
    ],
)
def test_store_failures_are_one_clear_line(
    tmp_path: Path,
    s3_store: S3Store,
    s3: Any,
    bucket: str,
    change: dict[str, str],
    message: str,
) -> None:
    _put(s3, bucket, "events/a.parquet", [{"id": 1}])
    name = change.pop("bucket", bucket)
    with_ = {"source": {"files": {"path": f"s3://{name}/events/*.parquet", "credentials": FIELDS}}}
    ctx = _context(tmp_path, s3_store, with_)
    for secret, value in change.items():
        (ctx.secrets_dir / secret).write_text(value)
    with pytest.raises(LockgateError, match=message) as caught:
        main(ctx)
    text = str(caught.value)
    assert text.startswith(f"with.source.files.path: cannot list s3://{name}/")
    assert "\n" not in text and s3_store.secret_access_key not in text
    if "s3-key-id" in change or "s3-secret" in change:
        assert "check the secrets named in with.source.files.credentials" in text


def test_without_s3fs_the_error_names_the_extra(tmp_path: Path, s3_store: S3Store) -> None:
    """s3fs hidden from a fresh interpreter (it is installed here): the stage names the extra."""
    ctx = _context(
        tmp_path,
        s3_store,
        {"source": {"files": {"path": "s3://lake/x/*.parquet", "credentials": FIELDS}}},
    )
    fields = {k: str(v) for k, v in vars(ctx).items() if k != "with_"} | {"with_": ctx.with_}
    code = (
        "import json, sys\n"
        "sys.modules['s3fs'] = None\n"
        "from pathlib import Path\n"
        "from lockgate.errors import LockgateError\n"
        "from lockgate.stages.context import StageContext\n"
        "from lockgate.stages.ingest import main\n"
        "f = json.loads(sys.argv[1])\n"
        "paths = ('workspace', 'inputs', 'out', 'secrets_dir', 'state')\n"
        "ctx = StageContext(**{k: Path(v) if k in paths else v for k, v in f.items()})\n"
        "try:\n    main(ctx)\nexcept LockgateError as e:\n    print(e)\n    sys.exit(1)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(fields)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stdout.strip() == (
        "with.source.files.path: reading S3 needs s3fs: pip install 'lockgate[ingest-s3]'"
    )


def test_sigkill_mid_stream_then_rerun_reads_every_object_once(
    tmp_path: Path, s3_store: S3Store, s3: Any, bucket: str
) -> None:
    """A real process reading a prefix object by object is killed after a few commits; the
    rerun reads the rest, and every row is in the dataset once."""
    import signal
    import time

    objects, rows = 80, 50
    for n in range(objects):
        ids = range(n * rows, (n + 1) * rows)
        _put(s3, bucket, f"events/seq={n:05d}/p.parquet", [{"id": i} for i in ids])
    with_ = {
        "source": {"files": {"path": f"s3://{bucket}/events", "credentials": FIELDS}},
        "mode": "stream",
    }
    ctx = _context(tmp_path, s3_store, with_, "killed")
    journal = ctx.state / "ingest" / "ingest" / "journal.json"

    def committed() -> int:
        return len(json.loads(journal.read_text())["parts"]) if journal.exists() else 0

    log = tmp_path / "killed.log"
    proc = start_stage_process(ctx, with_, log)
    deadline = time.monotonic() + 120
    while committed() < 3:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the stream committed no batches in 120 s"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = committed()
    assert 3 <= done < objects, "the kill must land mid-stream"

    rerun = _context(tmp_path, s3_store, with_, "rerun")
    assert main(rerun) == 0
    data, manifest = read_all(rerun.out)
    assert data.height == objects * rows and data["id"].n_unique() == objects * rows
    assert manifest["this_run"] == {"batches": objects - done, "rows": (objects - done) * rows}


def test_temporary_credentials_with_a_session_token(
    tmp_path: Path, s3_store: S3Store, s3: Any, bucket: str
) -> None:
    """Credentials from assuming a role carry a session token: read with it, refused without."""
    _put(s3, bucket, "events/a.csv", [{"id": 1}, {"id": 2}])
    creds = s3_store.temporary_credentials() | {"endpoint_url": s3_store.endpoint}
    with_ = {"source": {"files": {"path": f"s3://{bucket}/events/*.csv", "credentials": "sts"}}}
    ctx = _context(tmp_path, s3_store, with_, "token")
    (ctx.secrets_dir / "sts").write_text(json.dumps(creds))
    assert main(ctx) == 0
    assert sorted(read_all(ctx.out)[0]["id"].to_list()) == [1, 2]
    for value in (creds["session_token"], creds["secret_access_key"]):
        assert value.encode() not in _written(tmp_path)

    without = _context(tmp_path, s3_store, with_, "no-token")
    (without.secrets_dir / "sts").write_text(
        json.dumps({k: v for k, v in creds.items() if k != "session_token"})
    )
    with pytest.raises(LockgateError, match="the store refused the credentials"):
        main(without)
