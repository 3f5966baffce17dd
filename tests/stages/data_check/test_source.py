"""Datasets named as one file, a directory of partitions or a glob, in Parquet, CSV, JSONL."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.stages.data_check.check import DataCheck
from lockgate.stages.data_check.source import DataSourceError, locate
from lockgate.stages.data_check.spec import parse_spec
from lockgate.stages.data_check.watermark import WatermarkStore
from tests.stages.data_check.conftest import NOW, context, make_frame

WITH = {
    "columns": {
        "id": {"type": "int", "unique": True},
        "age": {"type": "int", "min": 0},
        "country": {"allowed": ["DE", "FR", "US", "JP"]},
    },
    "rows": {"min": 3000},
    "freshness": {"column": "ts", "max_age": "1d"},
}


def _check(workspace: Path, data: str) -> tuple[int | None, bool]:
    with_ = {**WITH, "data": data}
    ctx = context(workspace, with_)
    outcome = DataCheck(
        parse_spec(with_), ctx.resolve, WatermarkStore.for_stage(ctx.state, ctx.stage), NOW
    ).run()
    return outcome.rows, outcome.passed


def test_formats_and_layouts(workspace: Path) -> None:
    frame = make_frame(1)
    data = workspace / "data"
    frame.write_csv(data / "all.csv")
    frame.write_ndjson(data / "all.jsonl")
    (data / "parts").mkdir()
    for i in range(4):
        frame.slice(i * 1000, 1000).write_parquet(data / "parts" / f"part-{i}.parquet")
    assert _check(workspace, "data/all.csv") == (4000, True)
    assert _check(workspace, "data/parts") == (4000, True)
    assert _check(workspace, "data/parts/part-[0-3].parquet") == (4000, True)
    assert _check(workspace, "data/all.jsonl") == (4000, True)  # ts is text there, parsed


def test_jsonl_timestamps_are_parsed_for_freshness(workspace: Path) -> None:
    make_frame(1).write_ndjson(workspace / "data" / "all.jsonl")
    with_ = {"data": "data/all.jsonl", "freshness": {"column": "ts", "max_age": "1d"}}
    ctx = context(workspace, with_)
    outcome = DataCheck(
        parse_spec(with_), ctx.resolve, WatermarkStore.for_stage(ctx.state, ctx.stage), NOW
    ).run()
    assert outcome.passed, [c.line() for c in outcome.failures]


def test_upstream_output(workspace: Path) -> None:
    upstream = workspace.parent / "in" / "prepare"
    upstream.mkdir(parents=True)
    make_frame(1).write_parquet(upstream / "features.parquet")
    assert _check(workspace, "in:prepare/features.parquet") == (4000, True)


def test_missing_and_mixed_inputs(workspace: Path) -> None:
    ctx = context(workspace, {})
    with pytest.raises(DataSourceError, match=r"^with.data: no data files at 'data/nope'"):
        locate("data/nope", ctx.resolve, None, "data")
    (workspace / "data" / "a.csv").write_text("x\n1\n")
    (workspace / "data" / "b.parquet").write_bytes(b"")
    with pytest.raises(DataSourceError, match=r"cannot tell one format .* set `format:"):
        locate("data", ctx.resolve, None, "data")
