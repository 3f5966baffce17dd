"""Ingest from files: partitioned folders, globs, CSV and JSON lines, fsspec URLs (the local
``file://`` and in-memory filesystems; no object store runs here), and declared transforms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.ingest import main
from tests.stages.ingest.conftest import stage_context
from tests.stages.ingest.test_read_postgres import read_all


def _partitions(ws: Path, days: list[str]) -> None:
    import polars as pl

    for i, day in enumerate(days):
        folder = ws / "raw" / f"day={day}"
        folder.mkdir(parents=True)
        pl.DataFrame(
            {"id": [10 * i + k for k in range(3)], "price": [1.0, 2.0, 3.0], "qty": [1, 2, 3]}
        ).write_parquet(folder / "part.parquet")


def test_partitioned_folder_with_transforms_and_a_reference_join(tmp_path: Path) -> None:
    import polars as pl

    ctx = stage_context(
        tmp_path,
        {
            "source": {"files": {"path": "raw"}},
            "transform": [
                {"derive": {"total": "price * qty"}},
                {"filter": "total > 1"},
                {"join": {"table": "ref/products.csv", "on": "qty"}},
                {"select": ["id", "day", "total", "label"]},
            ],
        },
    )
    _partitions(ctx.workspace, ["2024-05-01", "2024-05-02"])
    (ctx.workspace / "ref").mkdir()
    (ctx.workspace / "ref" / "products.csv").write_text("qty,label\n2,pair\n3,trio\n")
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert data.sort("id").to_dicts() == [
        {"id": 1, "day": "2024-05-01", "total": 4.0, "label": "pair"},
        {"id": 2, "day": "2024-05-01", "total": 9.0, "label": "trio"},
        {"id": 11, "day": "2024-05-02", "total": 4.0, "label": "pair"},
        {"id": 12, "day": "2024-05-02", "total": 9.0, "label": "trio"},
    ]
    assert manifest["schema"] == {
        "id": "Int64",
        "day": "String",
        "total": "Float64",
        "label": "String",
    }
    assert manifest["rows"] == 4 and manifest["source"]["kind"] == "files"
    part = ctx.out / manifest["files"][0]["path"]
    import hashlib

    assert hashlib.sha256(part.read_bytes()).hexdigest() == manifest["files"][0]["sha256"]
    assert pl.read_parquet(part).height == 4


def test_stream_reads_each_new_partition_once(tmp_path: Path) -> None:
    with_ = {"source": {"files": {"path": "raw"}}, "mode": "stream"}
    first = stage_context(tmp_path, with_, "1")
    _partitions(first.workspace, ["2024-05-01", "2024-05-02"])
    assert main(first) == 0
    import polars as pl

    later = first.workspace / "raw" / "day=2024-05-03"
    later.mkdir()
    pl.DataFrame({"id": [99], "price": [5.0], "qty": [1]}).write_parquet(later / "part.parquet")
    second = stage_context(tmp_path, with_, "2")
    assert main(second) == 0
    data, manifest = read_all(second.out)
    assert manifest["this_run"] == {"batches": 1, "rows": 1}
    assert data.height == 7 and data["id"].n_unique() == 7
    assert manifest["watermark"]["value"] == "day=2024-05-03/part.parquet"
    third = stage_context(tmp_path, with_, "3")
    assert main(third) == 0
    assert read_all(third.out)[1]["this_run"] == {"batches": 0, "rows": 0}


def test_a_partition_with_other_columns_stops_the_stream(tmp_path: Path) -> None:
    import polars as pl

    ctx = stage_context(tmp_path, {"source": {"files": {"path": "raw"}}, "mode": "stream"})
    _partitions(ctx.workspace, ["2024-05-01"])
    odd = ctx.workspace / "raw" / "day=2024-05-02"
    odd.mkdir()
    pl.DataFrame({"id": ["x"], "price": [1.0], "qty": [1]}).write_parquet(odd / "part.parquet")
    with pytest.raises(LockgateError, match="column 'id' changed type from Int64 to String"):
        main(ctx)
    journal = json.loads((tmp_path / "state/ingest/ingest/journal.json").read_text())
    assert journal["watermark"] == "day=2024-05-01/part.parquet"


def test_incremental_column_over_csv_glob(tmp_path: Path) -> None:
    with_ = {"source": {"files": {"path": "in/*.csv"}}, "incremental": {"watermark": "ts"}}
    first = stage_context(tmp_path, with_, "1")
    (first.workspace / "in").mkdir()
    (first.workspace / "in" / "a.csv").write_text("ts,v\n1,a\n2,b\n")
    assert main(first) == 0
    (first.workspace / "in" / "a.csv").write_text("ts,v\n1,a\n2,b\n3,c\n")
    second = stage_context(tmp_path, with_, "2")
    assert main(second) == 0
    data, manifest = read_all(second.out)
    assert sorted(data["v"].to_list()) == ["a", "b", "c"]
    assert manifest["this_run"]["rows"] == 1 and manifest["watermark"]["value"] == 3


def test_a_later_file_that_changes_the_columns_is_named_as_a_change_upstream(
    tmp_path: Path,
) -> None:
    """The journal pins the union of the files' columns, as the parts hold it: a new file that
    retypes or adds a column stops the run naming it and the file, before anything is written
    (it was refused at commit, blaming with.transform); one that lacks a column reads NULL there,
    as in a first read of such files."""
    with_ = {"source": {"files": {"path": "in/*.csv"}}, "incremental": {"watermark": "id"}}
    first = stage_context(tmp_path, with_, "1")
    src = first.workspace / "in"
    src.mkdir()
    (src / "a.csv").write_text("id,amount,region\n1,10,eu\n2,20,us\n")
    assert main(first) == 0
    (src / "b.csv").write_text("id,amount\n3,30\n")
    second = stage_context(tmp_path, with_, "2")
    assert main(second) == 0
    data, _ = read_all(second.out)
    assert data.sort("id")["region"].to_list() == ["eu", "us", None]
    cases = {
        "c.csv": (
            "id,amount,region\n4,x40,eu\n",
            "column 'amount' changed type from Int64 to String",
        ),
        "d.csv": ("id,amount,region,extra\n5,50,eu,1\n", "column 'extra' was added upstream"),
    }
    for run, (name, (text, change)) in enumerate(cases.items(), start=3):
        (src / name).write_text(text)
        with pytest.raises(LockgateError) as caught:
            main(stage_context(tmp_path, with_, str(run)))
        assert f"(first in in/{name}): {change}" in str(caught.value)
        assert "the watermark stays at 3" in str(caught.value)
        assert f"by deleting {tmp_path / 'state' / 'ingest' / 'ingest'}" in str(caught.value)
        (src / name).unlink()


@pytest.mark.parametrize("scheme", ["file", "memory"])
def test_fsspec_urls_with_options_from_a_secret(tmp_path: Path, scheme: str) -> None:
    """The local and in-memory fsspec filesystems stand in for s3://, gs:// and az://: no object
    store runs here. The options secret goes to the filesystem (auto_mkdir is harmless)."""
    import fsspec

    lines = b'{"id": 1, "v": "a"}\n{"id": 2, "v": "b"}\n'
    if scheme == "memory":
        fs = fsspec.filesystem("memory")
        fs.pipe("/lake/events/part-1.jsonl", lines)
        url = "memory://lake/events"
    else:
        folder = tmp_path / "lake" / "events"
        folder.mkdir(parents=True)
        (folder / "part-1.jsonl").write_bytes(lines)
        url = f"file://{folder}"
    ctx = stage_context(tmp_path, {"source": {"files": {"path": url, "credentials": "lake"}}})
    (ctx.secrets_dir / "lake").write_text(json.dumps({"auto_mkdir": False}))
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert data.sort("id").to_dicts() == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
    assert manifest["source"]["path"] == url


@pytest.mark.parametrize(
    ("with_", "message"),
    [
        ({"source": {"files": {"path": "nowhere"}}}, "with.source.files.path: no data files"),
        (
            {"source": {"files": {"path": "raw"}}, "transform": [{"filter": "nope > 1"}]},
            "with.transform[0].filter: ",
        ),
        (
            {
                "source": {"files": {"path": "raw"}},
                "transform": [{"join": {"table": "missing.csv", "on": "id"}}],
            },
            "with.transform[0].join: no reference table",
        ),
        (
            {"source": {"files": {"path": "memory://lake", "credentials": "absent"}}},
            "secret 'absent' is not available to this stage",
        ),
    ],
)
def test_bad_sources_and_steps_are_one_clear_error(
    tmp_path: Path, with_: dict[str, Any], message: str
) -> None:
    ctx = stage_context(tmp_path, with_)
    _partitions(ctx.workspace, ["2024-05-01"])
    with pytest.raises(LockgateError, match=message.replace("[", r"\[").replace("]", r"\]")):
        main(ctx)


def test_a_full_read_writes_its_parts_once(tmp_path: Path) -> None:
    ctx = stage_context(tmp_path, {"source": {"files": {"path": "raw"}}})
    _partitions(ctx.workspace, ["2024-05-01"])
    assert main(ctx) == 0
    files = sorted(p.relative_to(ctx.out).as_posix() for p in ctx.out.rglob("*") if p.is_file())
    assert files == ["data/part-000001.parquet", "journal.json", "manifest.json", "metrics.json"]


def _csv_days(root: Path, days: dict[str, str]) -> None:
    for day, body in days.items():
        (root / "ws" / "raw" / f"day={day}").mkdir(parents=True)
        (root / "ws" / "raw" / f"day={day}" / "part.csv").write_text(body)


_HEADER_ONLY_DAY = {
    "2024-05-01": "id,amount\n1,10\n2,20\n",
    "2024-05-02": "id,amount\n",  # a day with no rows: what most writers leave
    "2024-05-03": "id,amount\n3,30\n",
}


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"memory_budget": "16MiB"},
        {"mode": "stream"},
        {"mode": "stream", "memory_budget": "16MiB"},
        {"incremental": {"watermark": "id"}},
        {"incremental": {"watermark": "id"}, "memory_budget": "16MiB"},
    ],
    ids=["batch", "batch-budget", "stream", "stream-budget", "incremental", "incremental-budget"],
)
def test_a_csv_partition_of_its_header_alone_contributes_no_column_types(
    tmp_path: Path, extra: dict[str, Any]
) -> None:
    """Its columns read as text, and every partition's columns became text with them (or a
    stream refused that partition on every run)."""
    _csv_days(tmp_path, _HEADER_ONLY_DAY)
    with_ = {"source": {"files": {"path": "raw"}}, **extra}
    for run in ("1", "2"):
        ctx = stage_context(tmp_path, with_, run)
        assert main(ctx) == 0
        data, manifest = read_all(ctx.out)
        assert manifest["schema"] == {"id": "Int64", "amount": "Int64", "day": "String"}
        assert sorted(data["id"].to_list()) == [1, 2, 3]
    _csv_days(tmp_path, {"2024-05-04": "id,amount\n4,40\n10,100\n"})
    ctx = stage_context(tmp_path, with_, "3")
    assert main(ctx) == 0
    data, _ = read_all(ctx.out)
    assert sorted(data["id"].to_list()) == [1, 2, 3, 4, 10]


def test_a_stream_that_starts_with_empty_partitions_pins_the_first_with_rows(
    tmp_path: Path,
) -> None:
    _csv_days(tmp_path, {"2024-05-01": "id,amount\n", "2024-05-02": "id,amount\n"})
    with_ = {"source": {"files": {"path": "raw"}}, "mode": "stream"}
    assert main(stage_context(tmp_path, with_, "1")) == 0
    _csv_days(tmp_path, {"2024-05-03": "id,amount\n3,30\n", "2024-05-04": "id,amount\n"})
    ctx = stage_context(tmp_path, with_, "2")
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert manifest["schema"] == {"id": "Int64", "amount": "Int64", "day": "String"}
    assert data["id"].to_list() == [3]
    assert manifest["watermark"]["value"] == "day=2024-05-04/part.csv"


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"memory_budget": "16MiB"},
        {"mode": "stream"},
        {"mode": "stream", "memory_budget": "16MiB"},
    ],
    ids=["batch", "batch-budget", "stream", "stream-budget"],
)
def test_a_header_only_object_in_a_store_contributes_no_column_types(
    tmp_path: Path, extra: dict[str, Any]
) -> None:
    """Through fsspec (its in-memory filesystem): an object's columns come from its head under
    a budget, from the object read whole without one."""
    import fsspec

    fs = fsspec.filesystem("memory")
    lake = f"/lake-{tmp_path.name}"
    for day, body in _HEADER_ONLY_DAY.items():
        fs.pipe(f"{lake}/day={day}/part.csv", body.encode())
    with_ = {"source": {"files": {"path": f"memory:/{lake}", "credentials": "lake"}}, **extra}
    ctx = stage_context(tmp_path, with_)
    (ctx.secrets_dir / "lake").write_text(json.dumps({}))
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert manifest["schema"] == {"id": "Int64", "amount": "Int64", "day": "String"}
    assert sorted(data["id"].to_list()) == [1, 2, 3]
