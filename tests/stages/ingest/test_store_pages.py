"""Object-store listings of more than one page, against Azurite.

Azure Blob Storage, and Azurite likewise, answers a blob listing in pages of at most 5,000
blobs, with a continuation marker for the next page; adlfs asks for no smaller page. A folder of
5,001 blobs is listed in two pages, and the ingest stage must list and read every blob once.
(The S3 listing of more than one page is tested in test_store_edges_more. gcp-storage-emulator
answers any object listing in one response, whatever ``maxResults`` asks, and gives no
``nextPageToken``: a GCS listing of more than one page cannot be made against it.)
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.stages.ingest import files, main, object_stores
from lockgate.stages.ingest.config import FileSource
from tests.cloudstores import AZURITE_ACCOUNT, AZURITE_KEY, Azurite
from tests.stages.ingest.relay import Relay
from tests.stages.ingest.test_read_cloud import Lake
from tests.stages.ingest.test_read_postgres import read_all

PAGE = 5000  # the most blobs one page of an Azure listing holds, and Azurite's default
COUNT = PAGE + 1


def _body(i: int) -> bytes:
    return f"id\n{i}\n".encode()


def _key(i: int) -> str:
    return f"{i:05d}.csv"


async def _fill(azurite: Azurite, container: str) -> tuple[int, bool]:
    """The container made and ``COUNT`` blobs put under ``ev/`` concurrently; then the size of
    the first page of their listing, and whether it names a next page."""
    from azure.storage.blob.aio import ContainerClient

    async with ContainerClient.from_connection_string(
        azurite.connection_string, container
    ) as client:
        await client.create_container()
        limit = asyncio.Semaphore(64)

        async def put(i: int) -> None:
            async with limit:
                await client.upload_blob(f"ev/{_key(i)}", _body(i))

        await asyncio.gather(*(put(i) for i in range(COUNT)))
        pages: Any = client.list_blobs(name_starts_with="ev/").by_page()
        first = [blob async for blob in await anext(pages)]
        return len(first), bool(pages.continuation_token)


async def _drop(azurite: Azurite, container: str) -> None:
    """The container deleted in one request (not blob by blob)."""
    from azure.storage.blob.aio import ContainerClient

    async with ContainerClient.from_connection_string(
        azurite.connection_string, container
    ) as client:
        await client.delete_container()


@pytest.fixture(scope="module")
def paged(azurite: Azurite) -> Iterator[Lake]:
    """A container whose folder ``ev`` holds ``COUNT`` CSV blobs, one row each (its id), shared
    by this module's tests: putting them takes several seconds."""
    container = f"pages-{uuid.uuid4().hex[:10]}"
    first, more = asyncio.run(_fill(azurite, container))
    assert (first, more) == (PAGE, True), "the listing is not paged"
    yield Lake(
        "az",
        container,
        azurite.filesystem(),
        {"az-name": AZURITE_ACCOUNT, "az-key": AZURITE_KEY, "az-endpoint": azurite.endpoint},
        {"account_name": "az-name", "account_key": "az-key", "endpoint_url": "az-endpoint"},
        (AZURITE_KEY,),
    )
    asyncio.run(_drop(azurite, container))


@pytest.mark.slow
def test_an_azure_listing_of_more_than_one_page_names_every_blob_once(
    tmp_path: Path, paged: Lake
) -> None:
    """The folder's 5,001 blobs come in two pages; its partitions are every blob once, in key
    order, each with its size, the one on the second page included."""
    source = FileSource(path=f"az://{paged.bucket}/ev", credentials=paged.fields)
    found = files.partitions(source, lambda p: tmp_path / p, paged.secrets.__getitem__)
    assert [p.key for p in found] == [_key(i) for i in range(COUNT)]
    assert [p.size for p in found] == [len(_body(i)) for i in range(COUNT)]
    assert found[PAGE].label == f"az://{paged.bucket}/ev ({_key(PAGE)})"


@pytest.mark.slow
def test_a_listing_that_outlasts_the_bound_is_not_cut_while_each_page_comes_in_time(
    tmp_path: Path, paged: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound is one call's, a page of the listing, not the whole listing's: a slow but
    working store is listed whole however many pages it takes. Through a relay that holds each
    request 3 s, with the bound at 6.5 s, each page comes in time while the listing takes more
    than the bound. (A store that answers no call within the bound stops the run:
    test_store_edges_more.)"""
    bound = 6.5
    monkeypatch.setattr(object_stores, "LIST_TIMEOUT_S", bound)
    origin, _, account = paged.secrets["az-endpoint"].split("//", 1)[1].partition("/")
    relay = Relay(origin, "silent", delay=3.0)
    secrets = paged.secrets | {"az-endpoint": f"{relay.url}/{account}"}
    source = FileSource(path=f"az://{paged.bucket}/ev", credentials=paged.fields)
    started = time.monotonic()
    try:
        found = files.partitions(source, lambda p: tmp_path / p, secrets.__getitem__)
    finally:
        relay.stop()
    assert [p.key for p in found] == [_key(i) for i in range(COUNT)]
    took = time.monotonic() - started
    assert took > bound, f"the listing took {took:.1f} s, within the bound: this proves nothing"


@pytest.mark.slow
def test_a_batch_read_of_a_folder_of_more_than_one_page_gives_every_row_once(
    tmp_path: Path, paged: Lake
) -> None:
    """A batch read of the folder reads all 5,001 blobs, those of both pages: every row once,
    in key order."""
    ctx = paged.context(tmp_path, paged.source("ev") | {"mode": "batch"})
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert manifest["this_run"] == {"batches": 1, "rows": COUNT}
    assert data["id"].to_list() == list(range(COUNT))
