"""More object-store edges against the real emulators (moto's S3 server, gcp-storage-emulator,
Azurite): a listing of more than one page, a GCS or Azure store lost or gone silent while an
object is read, credentials that expire or are revoked between runs, and NULL watermarks in
objects' rows."""

from __future__ import annotations

import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.ingest import main, object_stores
from tests.cloudstores import AZURITE_ACCOUNT, AZURITE_KEY, Azurite
from tests.s3store import S3Store
from tests.stages.ingest.relay import Relay
from tests.stages.ingest.test_read_cloud import Lake, _azure_lake, lake
from tests.stages.ingest.test_read_postgres import read_all
from tests.stages.ingest.test_read_s3 import _context, _put, _written
from tests.stages.ingest.test_store_edges import _after_listing, _rows, _source, bucket

__all__ = ["bucket", "lake"]  # the fixtures, shared with test_store_edges and test_read_cloud


def _journal(ctx: Any) -> dict[str, Any]:
    return dict(json.loads((ctx.state / "ingest" / "ingest" / "journal.json").read_text()))


# --- a listing of more than one page -------------------------------------------------------


def test_a_listing_of_more_than_one_page_reads_every_object_once(
    tmp_path: Path, s3_store: S3Store, bucket: tuple[Any, str]
) -> None:
    """moto's S3 server pages a listing at 1,000 keys, as S3 does: a stream over 1,001 objects
    reads each once, and the next run lists every page again and reads only the objects added
    since. (gcp-storage-emulator answers any listing in one page, and Azurite pages
    at 5,000.)"""
    s3, name = bucket

    def put(ids: range) -> None:
        def one(i: int) -> None:
            s3.put_object(Bucket=name, Key=f"ev/{i:05d}.csv", Body=f"id\n{i}\n".encode())

        with ThreadPoolExecutor(8) as pool:  # the client's pool holds 10 connections
            list(pool.map(one, ids))

    put(range(0, 2002, 2))
    page = s3.list_objects_v2(Bucket=name, Prefix="ev/")
    assert page["IsTruncated"] and page["KeyCount"] == 1000, "the listing is not paged"
    with_ = _source(name, "ev", mode="stream")
    ctx = _context(tmp_path, s3_store, with_, "1")
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert manifest["this_run"] == {"batches": 1001, "rows": 1001}
    assert data["id"].to_list() == list(range(0, 2002, 2))
    put(range(2002, 2012))
    ctx = _context(tmp_path, s3_store, with_, "2")
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert manifest["this_run"] == {"batches": 10, "rows": 10}
    assert sorted(data["id"].to_list()) == [*range(0, 2002, 2), *range(2002, 2012)]


# --- a GCS or Azure store lost while an object is read ------------------------------------


@pytest.mark.parametrize(("how", "budget"), [("refused", None), ("silent", "16MiB")])
def test_a_store_lost_while_an_object_is_read_is_one_line_within_the_bound(
    tmp_path: Path,
    lake: Lake,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    how: str,
    budget: str | None,
) -> None:
    """The clients retry a refused connection for half a minute (GCS) or over a minute (Azure)
    and wait on a silent store for many minutes; a read is cut at the listing's bound instead,
    and the line names neither the endpoint (it comes from a secret) nor its host and port."""
    monkeypatch.setattr(object_stores, "LIST_TIMEOUT_S", 2.0)  # 15 s in use
    lake.put("ev/a.parquet", [{"id": 1}])
    field = "gcs-endpoint" if lake.scheme == "gs" else "az-endpoint"
    origin, _, account = lake.secrets[field].split("//", 1)[1].partition("/")
    relay = Relay(origin, how)
    lake.secrets[field] = f"http://{relay.address}" + (f"/{account}" if account else "")
    _after_listing(monkeypatch, relay.cut)
    with_ = lake.source("ev") | ({"memory_budget": budget} if budget else {})
    ctx = lake.context(tmp_path, with_)
    failure, waited = relay.failure(lambda: main(ctx))
    assert isinstance(failure, LockgateError), failure
    text = str(failure)
    assert text.startswith(f"cannot read {lake.scheme}://{lake.bucket}/ev (a.parquet): ")
    assert text.endswith(
        "cannot reach the store: check endpoint_url and that it accepts connections"
    ), text
    assert "\n" not in text
    assert waited < 8, f"the read took {waited:.0f} s to give up"
    logs = capfd.readouterr()
    for value in (relay.address, *lake.hidden):
        assert value not in text + logs.out + logs.err
        assert value.encode() not in _written(tmp_path)


# --- credentials that expire or are revoked between runs ----------------------------------


def _sas(azurite: Azurite, container: str, expiry: datetime) -> str:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(
        AZURITE_ACCOUNT,
        container,
        account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=expiry,
    )


def test_a_sas_that_expires_mid_stream_names_the_secret_and_keeps_the_watermark(
    tmp_path: Path, azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SAS that expires between the listing and a read (then before the next run's listing)
    stops the run in one line naming the secret to renew, the store saying only that it could
    not authenticate the request; the watermark stays at the last committed object, and a run
    with a new SAS reads exactly the rest."""
    lake = next(_azure_lake(azurite))
    credentials = {"sas_token": "az-sas", "endpoint_url": "az-endpoint"}
    with_ = {
        "source": {"files": {"path": f"az://{lake.bucket}/ev", "credentials": credentials}},
        "mode": "stream",
    }

    def context(n: str, expiry: datetime) -> Any:
        ctx = lake.context(tmp_path, with_, n)
        (ctx.secrets_dir / "az-sas").write_text(_sas(azurite, lake.bucket, expiry))
        return ctx

    lake.put("ev/day=01/p.parquet", [{"id": 1}])
    ctx = context("1", datetime.now(UTC) + timedelta(hours=1))
    assert main(ctx) == 0
    lake.put("ev/day=02/p.parquet", [{"id": 2}])
    lake.put("ev/day=03/p.parquet", [{"id": 3}])
    expiry = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    short = context("2", expiry)
    _after_listing(monkeypatch, lambda: time.sleep(_until(expiry)))
    expected = (
        f"the SAS in secret 'az-sas' expired at {expiry:%Y-%m-%dT%H:%M:%SZ}: put a new one in "
        "that secret and run the stage again"
    )
    with pytest.raises(LockgateError) as caught:
        main(short)
    assert str(caught.value) == (
        f"cannot read az://{lake.bucket}/ev (day=02/p.parquet): Server failed to authenticate "
        "the request. Make sure the value of the Authorization header is formed correctly "
        "including the signature.; " + expected
    )
    monkeypatch.undo()
    with pytest.raises(LockgateError, match="expired at") as caught:
        main(short)
    assert str(caught.value).startswith(f"with.source.files.path: cannot list az://{lake.bucket}")
    assert str(caught.value).endswith(expected)
    assert _journal(ctx)["watermark"] == "day=01/p.parquet"
    ctx = context("3", datetime.now(UTC) + timedelta(hours=1))
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert manifest["this_run"] == {"batches": 2, "rows": 2}
    assert sorted(data["id"].to_list()) == [1, 2, 3]
    assert AZURITE_KEY.encode() not in _written(tmp_path)


def _until(moment: datetime) -> float:
    """Seconds until just past ``moment`` (a SAS's expiry is checked to the second)."""
    return max(0.0, (moment - datetime.now(UTC)).total_seconds() + 1.1)


def test_s3_keys_revoked_between_runs_name_the_secrets_and_keep_the_watermark(
    tmp_path: Path, s3_store: S3Store, bucket: tuple[Any, str]
) -> None:
    """A deleted access key is refused as S3 refuses it; the line names the secrets that hold
    the key, the watermark stays, and a run with a valid key reads exactly the rest."""
    s3, name = bucket
    with_ = _source(name, "ev", mode="stream")
    _put(s3, name, "ev/day=01/p.parquet", [{"id": 1}])
    ctx = _context(tmp_path, s3_store, with_, "1")
    assert main(ctx) == 0
    _put(s3, name, "ev/day=02/p.parquet", [{"id": 2}])
    revoked = _context(tmp_path, s3_store, with_, "2")
    (revoked.secrets_dir / "s3-key-id").write_text("AKIAREVOKEDREVOKED00")
    with pytest.raises(LockgateError) as caught:
        main(revoked)
    assert str(caught.value) == (
        f"with.source.files.path: cannot list s3://{name}/ev: The AWS Access Key Id you provided "
        "does not exist in our records.; the store refused the credentials: check the secrets "
        "named in with.source.files.credentials (secrets 's3-key-id', 's3-secret': renew them "
        "if expired or revoked)"
    )
    assert _journal(ctx)["watermark"] == "day=01/p.parquet"
    ctx = _context(tmp_path, s3_store, with_, "3")
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert manifest["this_run"] == {"batches": 1, "rows": 1}
    assert sorted(data["id"].to_list()) == [1, 2]
    assert s3_store.secret_access_key.encode() not in _written(tmp_path)


# --- NULL watermarks in objects' rows ------------------------------------------------------


@pytest.mark.parametrize("budget", [None, "16MiB"])
def test_rows_of_objects_with_a_null_watermark_are_never_read_nor_hide_others(
    tmp_path: Path, s3_store: S3Store, bucket: tuple[Any, str], budget: str | None
) -> None:
    """As for local files: a row whose watermark is NULL is read neither on the first run nor
    later, and does not keep the rows past the watermark from being read; an object whose
    watermark column holds only NULLs (typed Null in JSON lines) is read alongside the others."""
    s3, name = bucket
    _put(s3, name, "ev/a.parquet", [{"id": 1, "ts": 10}, {"id": 2, "ts": None}])
    _put(s3, name, "ev/b.jsonl", [{"id": 3, "ts": None}, {"id": 4, "ts": None}])
    _put(s3, name, "ev/c.csv", [{"id": 5, "ts": 20}, {"id": 6, "ts": None}])
    with_ = _source(name, "ev", incremental={"watermark": "ts"})
    with_ |= {"memory_budget": budget} if budget else {}
    ctx = _context(tmp_path, s3_store, with_, "1")
    assert main(ctx) == 0
    data, _ = read_all(ctx.out)
    assert sorted(data["id"].to_list()) == [1, 5]
    assert _journal(ctx)["watermark"] == 20
    _put(s3, name, "ev/d.parquet", [{"id": 7, "ts": None}, {"id": 8, "ts": 30}, {"id": 9, "ts": 5}])
    ctx = _context(tmp_path, s3_store, with_, "2")
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert manifest["this_run"]["rows"] == 1
    assert sorted(data["id"].to_list()) == [1, 5, 8]


# --- no lookup per object: the listing describes each object it names ---------------------


def test_objects_are_opened_as_the_listing_described_them_without_a_lookup_each(
    tmp_path: Path, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch read of ten objects asks the store about none of them before fetching it (GCS
    asked twice per object, the object and a listing raced; Azure once): what the listing said
    of each serves its lookup. Only the source root is looked up, to learn it is a folder."""
    import adlfs
    import gcsfs.core

    for i in range(10):
        lake.put(f"ev/{i:02d}.parquet", [{"id": i}])
    asked: list[str] = []
    for cls in (gcsfs.core.GCSFileSystem, adlfs.AzureBlobFileSystem):
        real = cls._info

        async def counted(self: Any, path: str, _real: Any = real, **kwargs: Any) -> Any:
            asked.append(path)
            return await _real(self, path, **kwargs)

        monkeypatch.setattr(cls, "_info", counted)
    ctx = lake.context(tmp_path, lake.source("ev") | {"mode": "batch"})
    assert main(ctx) == 0
    assert read_all(ctx.out)[0]["id"].to_list() == list(range(10))
    assert [p.rstrip("/") for p in asked] in ([], [f"{lake.bucket}/ev"]), asked


@pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning")
@pytest.mark.parametrize("resets", [1, 100], ids=["once", "at-every-attempt"])
def test_a_gcs_or_azure_body_reset_partway(
    tmp_path: Path,
    lake: Lake,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    resets: int,
) -> None:
    """A connection reset a quarter of the way into an object's body. Once: it is fetched
    again and the run goes on with the same rows. At every attempt: the blob SDK gives up after
    its retries, said as a transfer that breaks; gcsfs asks again for longer than the fetch may
    take (its bound: the listing's plus a time per MiB), said as that bound."""
    import polars as pl

    monkeypatch.setattr(object_stores, "LIST_TIMEOUT_S", 2.0)  # 15 s in use
    monkeypatch.setattr(object_stores, "READ_RATE", 2**20)  # 4 s a MiB in use: 6.5 s, not 19
    body = _rows("csv", 40_000)
    lake.fs.pipe(f"{lake.bucket}/ev/rows.csv", body)  # the test's own upload, in one request
    field = "gcs-endpoint" if lake.scheme == "gs" else "az-endpoint"
    origin, _, account = lake.secrets[field].split("//", 1)[1].partition("/")
    relay = Relay(origin, "reset", allowance=len(body) // 4, resets=resets)
    lake.secrets[field] = f"http://{relay.address}" + (f"/{account}" if account else "")
    _after_listing(monkeypatch, relay.cut)
    ctx = lake.context(tmp_path, lake.source("ev"))
    if resets == 1:
        assert relay.outlived(lambda: main(ctx)) == 0
        assert read_all(ctx.out)[0].equals(pl.read_csv(io.BytesIO(body)))
        return
    failure, waited = relay.failure(lambda: main(ctx))
    assert isinstance(failure, LockgateError), failure
    assert relay.resets < resets - 1, "the body was not asked again"
    bound = object_stores.fetch_bound(len(body))
    assert bound is not None
    said = {
        "gs": f"the fetch did not finish within {round(bound, 1):g} s; cannot reach the store: "
        "check endpoint_url and that it accepts connections",
        "az": "the connection was lost partway through the object (",
    }[lake.scheme]
    text = str(failure)
    assert text.startswith(f"cannot read {lake.scheme}://{lake.bucket}/ev (rows.csv): {said}")
    assert waited < bound + 4, f"the read took {waited:.0f} s to give up"
    logs = capfd.readouterr()
    for value in (relay.address, *lake.hidden):
        assert value not in text + logs.out + logs.err
