"""Google Cloud Storage listings of more than one page, through a front that pages them.

gcp-storage-emulator answers any object listing in one response, whatever ``maxResults`` asks,
and gives no ``nextPageToken``, so against it alone no GCS listing of more than one page can be
made. The real service gives at most 1,000 entries a page (gcsfs asks for 1,000) and a token
for the next. These tests go through :class:`GcsFront` (tests/stages/ingest/gcs_front.py), which
stands in for the real service's paging: a folder of 2,501 objects is listed in three pages of
1,000, 1,000 and 501. The ingest stage must list and read every object once, the last page's
included, and the bound on one call to the store (``object_stores.LIST_TIMEOUT_S``), which is
a page's, must not cut a listing that takes longer than the bound as a whole.
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import quote

import pytest

from lockgate.stages.ingest import files, main, object_stores
from lockgate.stages.ingest.config import FileSource
from tests.cloudstores import GcsEmulator
from tests.stages.ingest.conftest import _need_modules
from tests.stages.ingest.gcs_front import PAGE_LIMIT, GcsFront, start_emulator
from tests.stages.ingest.test_read_cloud import Lake
from tests.stages.ingest.test_read_postgres import read_all

COUNT = 2 * PAGE_LIMIT + 501  # three pages: 1,000, 1,000 and 501 objects
PAGES = -(-COUNT // PAGE_LIMIT)


def _body(i: int) -> bytes:
    return f"id\n{i}\n".encode()


def _key(i: int) -> str:
    return f"{i:05d}.csv"


def _page(front: GcsFront, bucket: str, query: str) -> dict[str, Any]:
    """One page of an object listing of ``bucket`` through the front."""
    url = f"{front.url}/storage/v1/b/{bucket}/o?{query}"
    with urllib.request.urlopen(url, timeout=30) as answer:
        page: dict[str, Any] = json.load(answer)
    return page


def _first_page(front: GcsFront, bucket: str) -> tuple[int, bool]:
    """How many objects the first page of the folder's listing holds when 5,000 are asked for,
    and whether it names a next page."""
    page = _page(front, bucket, "prefix=ev%2F&maxResults=5000")
    return len(page.get("items", [])), "nextPageToken" in page


@pytest.fixture(scope="module")
def quick_gcs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GcsEmulator]:
    """This module's own emulator (one that takes thousands of uploads in seconds) and token
    endpoint."""
    _need_modules(request, "ingest-gcs", "gcsfs", "gcp_storage_emulator", "cryptography")
    emulator = start_emulator(tmp_path_factory.mktemp("gcs-pages") / "emulator.log")
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def paged(quick_gcs: GcsEmulator) -> Lake:
    """A bucket whose folder ``ev`` holds ``COUNT`` CSV objects, one row each (its id), put
    concurrently through a front (the emulator itself takes only a few connections at once),
    and a service account's secrets that read it. Its endpoint secret names the emulator
    itself: each test names its own front instead."""
    from gcsfs.core import GCSFileSystem

    bucket = f"pages-{uuid.uuid4().hex[:10]}"
    front = GcsFront(quick_gcs.endpoint)
    try:
        fs = GCSFileSystem(token="anon", endpoint_url=front.url, skip_instance_cache=True)
        fs.mkdir(bucket)
        fs.pipe({f"{bucket}/ev/{_key(i)}": _body(i) for i in range(COUNT)}, batch_size=64)
        assert _first_page(front, bucket) == (PAGE_LIMIT, True), "the listing is not paged"
    finally:
        front.stop()
    account = quick_gcs.tokens.service_account(f"reader-{bucket}@lake-project.iam")
    return Lake(
        "gs",
        bucket,
        quick_gcs.filesystem(),
        {"gcs-key": json.dumps(account), "gcs-endpoint": quick_gcs.endpoint},
        {"service_account_json": "gcs-key", "endpoint_url": "gcs-endpoint"},
        (account["private_key"],),
        quick_gcs.tokens.granted,
    )


@pytest.fixture()
def front(quick_gcs: GcsEmulator) -> Iterator[GcsFront]:
    """A paging front for the test alone, so that the listing requests it counts are the
    test's."""
    server = GcsFront(quick_gcs.endpoint)
    yield server
    server.stop()


def _through(lake: Lake, front: GcsFront) -> Lake:
    """The lake, its endpoint secret naming the front."""
    return dataclasses.replace(lake, secrets=lake.secrets | {"gcs-endpoint": front.url})


def test_the_front_pages_a_listing_as_the_service_does(paged: Lake, front: GcsFront) -> None:
    """What the tests below rely on: a page holds at most ``maxResults`` entries, items and
    prefixes together, in order of name; following ``nextPageToken`` gives every entry once;
    the last page gives no token; a token the front never gave is refused."""
    names: list[str] = []
    sizes: list[int] = []
    query = "prefix=ev%2F&maxResults=700"
    while True:
        page = _page(front, paged.bucket, query)
        names += [item["name"] for item in page["items"]]
        sizes.append(len(page["items"]))
        if "nextPageToken" not in page:
            break
        query = f"prefix=ev%2F&maxResults=700&pageToken={quote(page['nextPageToken'])}"
    assert sizes == [700, 700, 700, 401]
    assert names == [f"ev/{_key(i)}" for i in range(COUNT)]
    page = _page(front, paged.bucket, "delimiter=%2F&maxResults=1")
    assert page["prefixes"] == ["ev/"] and "items" not in page and "nextPageToken" not in page
    with pytest.raises(HTTPError) as refused:
        _page(front, paged.bucket, "prefix=ev%2F&pageToken=not-a-token")
    refused.value.close()  # the refusal holds its connection open until closed
    assert refused.value.code == 400


@pytest.mark.slow
def test_a_gcs_listing_of_more_than_one_page_names_every_object_once(
    tmp_path: Path, paged: Lake, front: GcsFront
) -> None:
    """The folder's 2,501 objects come in three pages; its partitions are every object once,
    in key order, each with its size, those of the last page included."""
    lake = _through(paged, front)
    source = FileSource(path=f"gs://{lake.bucket}/ev", credentials=lake.fields)
    found = files.partitions(source, lambda p: tmp_path / p, lake.secrets.__getitem__)
    assert [p.key for p in found] == [_key(i) for i in range(COUNT)]
    assert [p.size for p in found] == [len(_body(i)) for i in range(COUNT)]
    assert found[-1].label == f"gs://{lake.bucket}/ev ({_key(COUNT - 1)})"
    assert front.paged >= PAGES - 1, "the listing took one page: this test proves nothing"


@pytest.mark.slow
def test_a_gcs_listing_that_outlasts_the_bound_is_not_cut_while_each_page_comes_in_time(
    tmp_path: Path, paged: Lake, front: GcsFront, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound is one call's, a page of the listing, not the whole listing's: a slow but
    working store is listed whole however many pages it takes. With the front holding each
    listing request 3 s and the bound at 6.5 s, each page comes in time while the listing, of
    three pages, takes more than the bound. (A store that answers no call within the bound
    stops the run: test_store_failures_are_one_clear_line in test_read_cloud.)"""
    bound = 6.5
    monkeypatch.setattr(object_stores, "LIST_TIMEOUT_S", bound)
    front.delay = 3.0
    lake = _through(paged, front)
    source = FileSource(path=f"gs://{lake.bucket}/ev", credentials=lake.fields)
    started = time.monotonic()
    found = files.partitions(source, lambda p: tmp_path / p, lake.secrets.__getitem__)
    took = time.monotonic() - started
    assert [p.key for p in found] == [_key(i) for i in range(COUNT)]
    assert front.paged >= PAGES - 1, "the listing took one page: this test proves nothing"
    assert took > bound, f"the listing took {took:.1f} s, within the bound: this proves nothing"


@pytest.mark.slow
def test_a_batch_read_of_a_gcs_folder_of_more_than_one_page_gives_every_row_once(
    tmp_path: Path, paged: Lake, front: GcsFront
) -> None:
    """A batch read of the folder reads all 2,501 objects, those of every page: every row
    once, in key order."""
    lake = _through(paged, front)
    ctx = lake.context(tmp_path, lake.source("ev") | {"mode": "batch"})
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert manifest["this_run"] == {"batches": 1, "rows": COUNT}
    assert data["id"].to_list() == list(range(COUNT))
    assert front.paged >= PAGES - 1, "the listing took one page: this test proves nothing"
