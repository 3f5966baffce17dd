"""A file source that cannot be read, or read past a watermark, stops the run with one line that
names the file or the column, before anything is committed; rows whose watermark is NULL are
never read, so a rerun adds no row twice."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.ingest import main
from tests.stages.ingest.conftest import stage_context

BUDGETS = [{}, {"memory_budget": "16MiB"}]
BAD_VALUE = "id,v\n" + "".join(f"{i},{i}\n" for i in range(300)) + "x,300\n"


def _written(root: Path) -> list[str]:
    """Every file the stage wrote (its output and its state), the workspace aside."""
    return sorted(
        p.relative_to(root).as_posix()
        for folder in (root / "out-1", root / "state")
        for p in folder.rglob("*")
        if p.is_file()
    )


def _rows(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import polars as pl

    manifest = json.loads((out / "manifest.json").read_text())
    frames = [pl.read_parquet(out / f["path"]) for f in manifest["files"]]
    rows = pl.concat(frames).sort("id").to_dicts() if frames else []
    return rows, manifest


@pytest.mark.parametrize(
    ("files", "with_", "message"),
    [
        pytest.param({"a.csv": b""}, {}, "cannot read raw/a.csv: empty CSV", id="empty-csv"),
        pytest.param(
            {"a.csv": b""},
            {"memory_budget": "16MiB"},
            "cannot read raw/a.csv: empty CSV",
            id="empty-csv-bounded",
        ),
        pytest.param(
            {"a.csv": b"id\n1\n", "b.csv": b""},
            {},
            "cannot read raw/b.csv: empty CSV",
            id="second-csv-empty",
        ),
        pytest.param(
            {"a.parquet": b"garbage"},
            {},
            "cannot read raw/a.parquet: parquet: File out of specification",
            id="corrupt-parquet",
        ),
        pytest.param(
            {"a.parquet": b"garbage" * 10},
            {"mode": "stream"},
            "cannot read raw/a.parquet: parquet: File out of specification",
            id="corrupt-parquet-stream",
        ),
        pytest.param(
            {"a.csv": BAD_VALUE.encode()},
            {"incremental": {"watermark": "v"}},
            "cannot read raw/a.csv: could not parse `x` as dtype `i64` at column 'id'",
            id="bad-value-past-a-watermark",
        ),
        pytest.param(
            {"a.csv": BAD_VALUE.encode()},
            {"incremental": {"watermark": "v"}, "memory_budget": "16MiB"},
            "cannot read raw/a.csv: could not parse",
            id="bad-value-past-a-watermark-bounded",
        ),
    ],
)
def test_an_unreadable_file_is_named_and_nothing_is_committed(
    tmp_path: Path, files: dict[str, bytes], with_: dict[str, Any], message: str
) -> None:
    ctx = stage_context(tmp_path, {"source": {"files": {"path": "raw"}}, **with_})
    (ctx.workspace / "raw").mkdir()
    for name, body in files.items():
        (ctx.workspace / "raw" / name).write_bytes(body)
    with pytest.raises(LockgateError, match="^" + re.escape(message)) as raised:
        main(ctx)
    assert "\n" not in str(raised.value)
    assert _written(tmp_path) == []


@pytest.mark.parametrize("budget", BUDGETS)
def test_a_watermark_column_not_in_the_files_is_refused_before_reading(
    tmp_path: Path, budget: dict[str, str]
) -> None:
    ctx = stage_context(
        tmp_path,
        {"source": {"files": {"path": "raw"}}, "incremental": {"watermark": "nope"}, **budget},
    )
    (ctx.workspace / "raw").mkdir()
    (ctx.workspace / "raw" / "a.csv").write_text("id,v\n1,a\n")
    (ctx.workspace / "raw" / "b.csv").write_text("id,w\n2,b\n")
    with pytest.raises(LockgateError) as raised:
        main(ctx)
    assert str(raised.value) == (
        "with.incremental.watermark: column 'nope' is not in the source's columns (id, v, w)"
    )
    assert _written(tmp_path) == []


@pytest.mark.parametrize("budget", BUDGETS)
def test_rows_whose_watermark_is_null_are_never_read(
    tmp_path: Path, budget: dict[str, str]
) -> None:
    with_ = {"source": {"files": {"path": "a.csv"}}, "incremental": {"watermark": "wm"}, **budget}
    csv = stage_context(tmp_path, with_, "1").workspace / "a.csv"
    csv.write_text("id,wm\n1,\n2,5\n")
    assert main(stage_context(tmp_path, with_, "1")) == 0
    rows, manifest = _rows(tmp_path / "out-1")
    assert rows == [{"id": 2, "wm": 5}] and manifest["watermark"]["value"] == 5
    csv.write_text("id,wm\n1,\n2,5\n3,\n4,6\n")
    for run in ("2", "3"):
        assert main(stage_context(tmp_path, with_, run)) == 0
    rows, manifest = _rows(tmp_path / "out-3")
    assert rows == [{"id": 2, "wm": 5}, {"id": 4, "wm": 6}]
    assert manifest["watermark"]["value"] == 6


@pytest.mark.parametrize("budget", BUDGETS)
def test_a_watermark_column_that_is_all_null_reads_nothing_on_every_run(
    tmp_path: Path, budget: dict[str, str]
) -> None:
    with_ = {"source": {"files": {"path": "a.csv"}}, "incremental": {"watermark": "wm"}, **budget}
    (stage_context(tmp_path, with_, "1").workspace / "a.csv").write_text("id,wm\n1,\n2,\n")
    for run in ("1", "2"):
        assert main(stage_context(tmp_path, with_, run)) == 0
        rows, manifest = _rows(tmp_path / f"out-{run}")
        assert rows == [] and manifest["watermark"]["value"] is None
