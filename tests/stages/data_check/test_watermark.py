"""Incremental mode reads only partitions added since the recorded watermark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lockgate.stages.data_check.check import DataCheck
from lockgate.stages.data_check.outcome import DataCheckOutcome
from lockgate.stages.data_check.spec import parse_spec
from lockgate.stages.data_check.watermark import Watermark, WatermarkStore, new_partitions
from tests.stages.data_check.conftest import NOW, context, make_frame

WITH: dict[str, Any] = {
    "data": "data/events",
    "incremental": True,
    "columns": {"id": {"type": "int", "unique": True}, "age": {"min": 0, "max": 120}},
    "rows": {"min": 100},
}


def _partition(workspace: Path, day: int, seed: int) -> Path:
    folder = workspace / "data" / "events" / f"date=2025-05-{day:02d}"
    folder.mkdir(parents=True)
    path = folder / "part-0.parquet"
    make_frame(seed, rows=1000, start_id=day * 10_000).write_parquet(path)
    return path


def _run(workspace: Path) -> tuple[DataCheckOutcome, WatermarkStore]:
    ctx = context(workspace, WITH)
    store = WatermarkStore.for_stage(ctx.state, ctx.stage)
    return DataCheck(parse_spec(WITH), ctx.resolve, store, NOW).run(), store


def test_only_new_partitions_are_read(workspace: Path) -> None:
    first = _partition(workspace, 1, 1)
    _partition(workspace, 2, 2)
    outcome, store = _run(workspace)
    assert outcome.passed and outcome.rows == 2000
    assert store.path == workspace.parent / "state" / "data-check" / "validate" / "watermark.json"
    assert json.loads(store.path.read_text())["key"] == "date=2025-05-02/part-0.parquet"

    first.write_bytes(b"this partition is corrupt now")  # reading it would fail the run
    third = _partition(workspace, 3, 3)
    outcome, store = _run(workspace)
    assert outcome.passed, [c.line() for c in outcome.failures]
    assert outcome.files == (str(third),) and outcome.rows == 1000
    assert json.loads(store.path.read_text())["key"] == "date=2025-05-03/part-0.parquet"

    outcome, _ = _run(workspace)
    assert outcome.rows == 0 and outcome.checks == ()
    assert outcome.notes == (
        "incremental: 0 new of 3 partitions (watermark 'date=2025-05-03/part-0.parquet')",
    )


def test_watermark_does_not_advance_past_a_failing_partition(workspace: Path) -> None:
    import polars as pl

    _partition(workspace, 1, 1)
    _run(workspace)
    bad = _partition(workspace, 2, 2)
    pl.read_parquet(bad).with_columns(pl.lit(-1).alias("age")).write_parquet(bad)
    outcome, store = _run(workspace)
    assert {c.name for c in outcome.failures} == {"min"}
    assert json.loads(store.path.read_text())["key"] == "date=2025-05-01/part-0.parquet"
    outcome, _ = _run(workspace)
    assert outcome.files == (str(bad),)  # checked again until it is fixed


def test_a_corrupt_new_partition_is_a_clear_error(workspace: Path) -> None:
    import pytest

    from lockgate.stages.data_check.source import DataSourceError

    _partition(workspace, 1, 1).write_bytes(b"not parquet")
    with pytest.raises(DataSourceError, match=r"^cannot read '.*data/events'"):
        _run(workspace)


def test_mtime_order(tmp_path: Path) -> None:
    import os

    files = []
    for i, name in enumerate(["b.parquet", "a.parquet", "c.parquet"]):
        path = tmp_path / name
        path.write_bytes(b"x")
        os.utime(path, (1000 + i, 1000 + i))
        files.append(path)
    fresh, mark = new_partitions(files, tmp_path, Watermark("mtime", 1000.5))
    assert [f.name for f in fresh] == ["a.parquet", "c.parquet"]
    assert mark == Watermark("mtime", 1002.0)
