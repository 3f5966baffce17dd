"""Object-store edges against the real emulators (moto's S3 server, Azurite): globs whose first
wildcard is ``?`` or ``[`` or that match folders, an object deleted or a store lost (refused or
silent) between the listing and the read, an unbounded stream fetching each object once, a SAS
that may list but not read, and a budgeted read of an object larger than the budget."""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.ingest import amazon_s3, files, main, object_stores
from lockgate.stages.ingest.read_files import FETCHES
from tests.cloudstores import AZURITE_ACCOUNT, AZURITE_KEY, Azurite
from tests.s3store import S3Store
from tests.stages.ingest.peak import run_measured
from tests.stages.ingest.relay import Relay
from tests.stages.ingest.test_budget import BUDGET_MIB, SLACK_MIB
from tests.stages.ingest.test_read_cloud import _azure_lake
from tests.stages.ingest.test_read_postgres import read_all
from tests.stages.ingest.test_read_s3 import FIELDS, _context, _put, _written

# What a store's client adds to a budgeted read beyond a local file's slack: its connection and
# read-ahead buffers (one chunk fetched while the last is parsed). Measured: 37-42 MiB above
# the 10-row run in all, against 24 MiB of slack for a local file.
STORE_SLACK_MIB = 8


@pytest.fixture()
def bucket(s3_store: S3Store) -> Iterator[tuple[Any, str]]:
    s3 = s3_store.client()
    name = f"lake-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    yield s3, name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys})
    s3.delete_bucket(Bucket=name)


def _source(bucket: str, path: str, **with_: Any) -> dict[str, Any]:
    return {"source": {"files": {"path": f"s3://{bucket}/{path}", "credentials": FIELDS}}} | with_


@pytest.mark.parametrize(
    "glob", ["ev/day=2024-05-0?/p.parquet", "ev/day=2024-05-0[1-9]/p.parquet", "e?/day=*/p.parquet"]
)
def test_a_glob_keeps_the_folders_of_its_objects_in_their_keys(
    tmp_path: Path, s3_store: S3Store, bucket: tuple[Any, str], glob: str
) -> None:
    """Keys are named below the folder above the first wildcard, whichever it is: objects of
    one name in two folders keep two keys (so a stream reads a later one), and hive folders
    become columns."""
    s3, name = bucket
    for day in ("01", "02"):
        _put(s3, name, f"ev/day=2024-05-{day}/p.parquet", [{"id": int(day)}])
    with_ = _source(name, glob, mode="stream")
    ctx = _context(tmp_path, s3_store, with_, "1")
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert manifest["this_run"] == {"batches": 2, "rows": 2}
    assert sorted(data["day"].to_list()) == ["2024-05-01", "2024-05-02"]
    _put(s3, name, "ev/day=2024-05-03/p.parquet", [{"id": 3}])
    ctx = _context(tmp_path, s3_store, with_, "2")
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert manifest["this_run"] == {"batches": 1, "rows": 1}
    assert sorted(data["id"].to_list()) == [1, 2, 3]


def test_a_glob_that_also_matches_folders_reads_only_the_objects(
    tmp_path: Path, s3_store: S3Store, bucket: tuple[Any, str]
) -> None:
    """``*`` matches a folder as well as an object; as for a local glob, only objects are read
    (``*`` does not reach into the folder)."""
    s3, name = bucket
    _put(s3, name, "ev/a.parquet", [{"id": 1}])
    _put(s3, name, "ev/day=2024-05-01/p.parquet", [{"id": 2}])
    ctx = _context(tmp_path, s3_store, _source(name, "ev/*"))
    assert main(ctx) == 0
    assert read_all(ctx.out)[0]["id"].to_list() == [1]


def _after_listing(monkeypatch: pytest.MonkeyPatch, act: Callable[[], None]) -> None:
    """``act`` runs once the source is listed, before any object is read."""
    listing = files._listing

    def listed(*args: Any, **kwargs: Any) -> Any:
        found = listing(*args, **kwargs)
        act()
        return found

    monkeypatch.setattr(files, "_listing", listed)


@pytest.mark.parametrize("budget", [None, "16MiB"])
def test_an_object_deleted_between_listing_and_reading_is_one_line(
    tmp_path: Path,
    s3_store: S3Store,
    bucket: tuple[Any, str],
    monkeypatch: pytest.MonkeyPatch,
    budget: str | None,
) -> None:
    s3, name = bucket
    _put(s3, name, "ev/a.parquet", [{"id": 1}])
    _put(s3, name, "ev/b.csv", [{"id": 2}])
    _after_listing(monkeypatch, lambda: s3.delete_object(Bucket=name, Key="ev/a.parquet"))
    with_ = _source(name, "ev") | ({"memory_budget": budget} if budget else {})
    with pytest.raises(LockgateError) as caught:
        main(_context(tmp_path, s3_store, with_))
    assert str(caught.value) == (
        f"cannot read s3://{name}/ev (a.parquet): The specified key does not exist.: the object "
        "was listed, then deleted or renamed before it was read; run the stage again"
    )


@pytest.mark.parametrize(
    ("how", "budget"),
    [("refused", None), ("refused", "16MiB"), ("silent", None), ("silent", "16MiB")],
)
def test_a_store_lost_between_listing_and_reading_is_one_line_without_the_endpoint(
    tmp_path: Path,
    s3_store: S3Store,
    bucket: tuple[Any, str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    how: str,
    budget: str | None,
) -> None:
    """The S3 client's connection error is its own type, not an OSError, and names the URL,
    whose endpoint comes from a secret. A store that takes the connection and never answers is
    given up within the listing's bound: botocore alone asked again for minutes."""
    monkeypatch.setattr(object_stores, "LIST_TIMEOUT_S", 2.0)  # 15 s in use
    s3, name = bucket
    _put(s3, name, "ev/a.parquet", [{"id": 1}])
    relay = Relay(s3_store.endpoint.split("//", 1)[1], how)
    _after_listing(monkeypatch, relay.cut)
    with_ = _source(name, "ev") | ({"memory_budget": budget} if budget else {})
    ctx = _context(tmp_path, s3_store, with_)
    (ctx.secrets_dir / "s3-endpoint").write_text(relay.url)
    failure, waited = relay.failure(lambda: main(ctx))
    assert isinstance(failure, LockgateError), failure
    text = str(failure)
    said = "Could not connect to the" if how == "refused" else "no answer within 2 s; "
    assert text.startswith(f"cannot read s3://{name}/ev (a.parquet): {said}"), text
    assert text.endswith(
        "cannot reach the store: check endpoint_url and that it accepts connections"
    )
    assert "\n" not in text
    assert waited < 8, f"the read took {waited:.0f} s to give up"
    logs = capfd.readouterr()
    for value in (relay.url, relay.address, s3_store.access_key_id, s3_store.secret_access_key):
        assert value not in text + logs.out + logs.err
        assert value.encode() not in _written(tmp_path)


def test_a_sas_that_may_list_but_not_read_names_the_permission(
    tmp_path: Path, azurite: Azurite
) -> None:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    lake = next(_azure_lake(azurite))
    lake.put("events/a.parquet", [{"id": 1}])
    sas = generate_container_sas(
        AZURITE_ACCOUNT,
        lake.bucket,
        account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    credentials = {"sas_token": "az-sas", "endpoint_url": "az-endpoint"}
    with_ = {
        "source": {"files": {"path": f"az://{lake.bucket}/events", "credentials": credentials}}
    }
    ctx = lake.context(tmp_path, with_)
    (ctx.secrets_dir / "az-sas").write_text(sas)
    with pytest.raises(LockgateError) as caught:
        main(ctx)
    text = str(caught.value)
    assert "not authorized to perform this operation using this permission" in text
    assert text.endswith(
        "the credentials are valid but may not do this: a SAS or role must allow both list "
        "and read on the container; check the secrets named in with.source.files.credentials"
    )
    assert sas.split("sig=")[1].split("&")[0] not in text


def _rows(fmt: str, rows: int) -> bytes:
    """About 125 bytes a row in memory, as test_budget's files."""
    import polars as pl

    n = pl.int_range(rows, dtype=pl.Int64)
    frame = pl.select(
        id=n, x=n * 0.5, s=pl.concat_str([pl.lit("r"), *[n.cast(pl.String).str.zfill(32)] * 3])
    )
    buf = io.BytesIO()
    if fmt == "csv":
        frame.write_csv(buf)
    else:
        frame.write_ndjson(buf)
    return buf.getvalue()


@pytest.mark.parametrize(("fmt", "mode"), [("csv", "batch"), ("jsonl", "stream")])
def test_an_object_larger_than_the_budget_stays_under_it(
    tmp_path: Path, s3_store: S3Store, bucket: tuple[Any, str], fmt: str, mode: str
) -> None:
    """An object is neither fetched whole to learn its columns (its head tells them) nor
    read ahead in the store's default block (50 MiB for S3), so a budgeted read of a 400,000-row
    object (about 48 MiB in memory) stays under the line a local file's does, plus the store's
    buffers."""
    s3, name = bucket
    s3.put_object(Bucket=name, Key=f"big/rows.{fmt}", Body=_rows(fmt, 400_000))
    s3.put_object(Bucket=name, Key=f"small/rows.{fmt}", Body=_rows(fmt, 10))
    tiny = run_measured(_context(tmp_path / "tiny", s3_store, _source(name, "small", mode=mode)))
    assert tiny.code == 0, tiny.stderr
    free = _context(tmp_path / "free", s3_store, _source(name, "big", mode=mode))
    budgeted = _source(name, "big", mode=mode, memory_budget=f"{BUDGET_MIB}MiB")
    bounded = _context(tmp_path / "budget", s3_store, budgeted)
    measured, unbounded = run_measured(bounded), run_measured(free)
    assert measured.code == 0, measured.stderr
    assert unbounded.code == 0, unbounded.stderr
    limit = tiny.peak_mib + BUDGET_MIB + SLACK_MIB + STORE_SLACK_MIB
    assert measured.peak_mib < limit, (measured.peak_mib, tiny.peak_mib)
    assert unbounded.peak_mib > limit, "the object is not larger than the budget"
    data, manifest = read_all(bounded.out)
    assert len(manifest["files"]) > 4
    assert data.equals(read_all(free.out)[0])


def test_an_unbounded_stream_fetches_each_object_once(
    tmp_path: Path, s3_store: S3Store, bucket: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first fresh object's columns are pinned from the scan its batch then reads, so no
    object is fetched whole twice; a run with nothing fresh reads only the first one's head."""
    s3, name = bucket
    for day in ("01", "02", "03"):
        _put(s3, name, f"ev/day={day}/p.parquet", [{"id": int(day)}])
    opened: list[tuple[str, int | None]] = []
    open_object = files._open_object

    def counted(fs: Any, key: str, block_size: int | None = None) -> Any:
        opened.append((key.rsplit("/ev/", 1)[1], block_size))
        return open_object(fs, key, block_size)

    monkeypatch.setattr(files, "_open_object", counted)
    with_ = _source(name, "ev", mode="stream")
    ctx = _context(tmp_path, s3_store, with_, "1")
    assert main(ctx) == 0
    assert read_all(ctx.out)[1]["this_run"] == {"batches": 3, "rows": 3}
    assert opened == [(f"day={day}/p.parquet", None) for day in ("01", "02", "03")]
    opened.clear()
    ctx = _context(tmp_path, s3_store, with_, "2")
    assert main(ctx) == 0
    assert read_all(ctx.out)[1]["this_run"] == {"batches": 0, "rows": 0}
    assert opened == [("day=01/p.parquet", files.HEAD_BLOCK)]


def test_a_silent_s3_store_is_given_up_at_the_listing_within_the_bound(
    tmp_path: Path, s3_store: S3Store, bucket: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that takes the connection and never answers from the start stops the listing
    within the bound, in one line that does not name the endpoint."""
    monkeypatch.setattr(object_stores, "LIST_TIMEOUT_S", 2.0)  # 15 s in use
    _, name = bucket
    relay = Relay(s3_store.endpoint.split("//", 1)[1], "silent")
    relay.cut()
    ctx = _context(tmp_path, s3_store, _source(name, "ev"))
    (ctx.secrets_dir / "s3-endpoint").write_text(relay.url)
    started = time.monotonic()
    try:
        with pytest.raises(LockgateError) as caught:
            main(ctx)
    finally:
        relay.stop()
    assert str(caught.value) == (
        f"with.source.files.path: cannot list s3://{name}/ev: no answer within 2 s; cannot "
        "reach the store: check endpoint_url and that it accepts connections"
    )
    assert time.monotonic() - started < 8


def test_objects_fetched_at_once_stop_at_the_first_unreadable_one_in_key_order(
    tmp_path: Path, s3_store: S3Store, bucket: tuple[Any, str]
) -> None:
    """A batch read fetches many objects at once; of two that cannot be read, the run names
    the first in key order, whichever fetch failed first, and writes nothing."""
    s3, name = bucket
    for i in range(3 * FETCHES):
        _put(s3, name, f"ev/{i:03d}.parquet", [{"id": i}])
    for broken in (7, 40):
        s3.put_object(Bucket=name, Key=f"ev/{broken:03d}.parquet", Body=b"not parquet")
    for run in ("1", "2"):
        ctx = _context(tmp_path, s3_store, _source(name, "ev"), run)
        with pytest.raises(LockgateError) as caught:
            main(ctx)
        assert str(caught.value).startswith(f"cannot read s3://{name}/ev (007.parquet): ")
        assert not list(ctx.out.rglob("*.parquet"))


def test_s3_objects_are_opened_without_a_lookup_each(
    tmp_path: Path, s3_store: S3Store, bucket: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the listing said of each object serves its lookup: a batch read of ten objects
    sends no HEAD request for any of them, only their fetches."""
    import s3fs.core

    s3, name = bucket
    for i in range(10):
        _put(s3, name, f"ev/{i:02d}.parquet", [{"id": i}])
    methods: list[str] = []
    call_s3 = s3fs.core.S3FileSystem._call_s3

    async def counted(self: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        methods.append(method)
        return await call_s3(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.core.S3FileSystem, "_call_s3", counted)
    ctx = _context(tmp_path, s3_store, _source(name, "ev"))
    assert main(ctx) == 0
    assert read_all(ctx.out)[0]["id"].to_list() == list(range(10))
    assert "head_object" not in methods, methods
    assert methods.count("get_object") == 10


def _cut_partway(
    s3_store: S3Store, bucket: tuple[Any, str], monkeypatch: pytest.MonkeyPatch, **cut: Any
) -> tuple[bytes, Relay]:
    """An object of about 4.6 MiB, and a relay to the store that cuts the answers a quarter of
    the way into it, once the source is listed."""
    monkeypatch.setattr(object_stores, "LIST_TIMEOUT_S", 2.0)  # 15 s in use
    s3, name = bucket
    body = _rows("csv", 40_000)
    s3.put_object(Bucket=name, Key="ev/rows.csv", Body=body)
    relay = Relay(s3_store.endpoint.split("//", 1)[1], allowance=len(body) // 4, **cut)
    _after_listing(monkeypatch, relay.cut)
    return body, relay


@pytest.mark.parametrize(
    "cut",
    [{"how": "stall"}, {"how": "reset", "resets": amazon_s3.FETCH_ATTEMPTS}],
    ids=["stall", "reset-at-every-attempt"],
)
def test_a_body_cut_partway_for_good_is_one_line_within_the_bound(
    tmp_path: Path,
    s3_store: S3Store,
    bucket: tuple[Any, str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    cut: dict[str, Any],
) -> None:
    """A body that stops arriving partway (the link dies, the connection held open) is given
    up within the read timeout and the bound of the fetch asked again, and one reset at every
    attempt is reported once they are spent: one line without the endpoint, nothing written."""
    body, relay = _cut_partway(s3_store, bucket, monkeypatch, **cut)
    ctx = _context(tmp_path, s3_store, _source(bucket[1], "ev"))
    (ctx.secrets_dir / "s3-endpoint").write_text(relay.url)
    failure, waited = relay.failure(lambda: main(ctx))
    assert isinstance(failure, LockgateError), failure
    text = str(failure)
    said = {
        "stall": "no answer within 2 s; cannot reach the store: check endpoint_url and that it "
        "accepts connections",
        "reset": f"the connection was lost partway through the object (ARRIVED of "
        f"{len(body):,} bytes arrived), and again when it was asked again; the store answers "
        "but the transfer breaks: check the network path to it (a proxy or load balancer that "
        "cuts connections) and run the stage again",
    }[cut["how"]]
    # what arrived of the body before the cut: the allowance, less the answer's headers
    arrived = re.search(r"\(([\d,]+) of", text)
    if arrived and 0 < int(arrived[1].replace(",", "")) < relay.allowance:
        said = said.replace("ARRIVED", arrived[1])
    assert text == f"cannot read s3://{bucket[1]}/ev (rows.csv): {said}"
    assert waited < 8, f"the read took {waited:.0f} s to give up"
    assert not list(ctx.out.rglob("*.parquet"))
    logs = capfd.readouterr()
    for value in (relay.url, relay.address, s3_store.access_key_id, s3_store.secret_access_key):
        assert value not in text + logs.out + logs.err
        assert value.encode() not in _written(tmp_path)


def test_a_body_reset_partway_once_is_fetched_again(
    tmp_path: Path, s3_store: S3Store, bucket: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection dropped once in the middle of an object (a flaky link, a load balancer
    recycling connections) costs a second fetch of that range, not the run."""
    import polars as pl

    body, relay = _cut_partway(s3_store, bucket, monkeypatch, how="reset", resets=1)
    ctx = _context(tmp_path, s3_store, _source(bucket[1], "ev"))
    (ctx.secrets_dir / "s3-endpoint").write_text(relay.url)
    assert relay.outlived(lambda: main(ctx)) == 0
    assert read_all(ctx.out)[0].equals(pl.read_csv(io.BytesIO(body)))
