"""A file read in bounded chunks gives the same rows, types and order as the whole-file scan:
CSV with quoted newlines and dates, JSON lines, local Parquet (row slices) and Parquet through
an fsspec file (pyarrow batches), and partitioned folders whose files differ in columns. The
chunks are made tiny so that every file is cut many times."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lockgate.stages.ingest.budget import MemoryPlan
from lockgate.stages.ingest.chunks import file_chunks
from lockgate.stages.ingest.config import parse_ingest_config
from lockgate.stages.ingest.journal import Journal
from lockgate.stages.ingest.read_files import file_batches

CSV = (
    'id,note,day,amount\n1,"plain",2024-05-01,1.5\n2,"two\nlines, and a ""quote""",2024-05-02,\n'
    '3,,2024-05-03,3.25\n4,"x\n\n""y""\nz",2024-05-04,4.0\n'
) + "".join(f"{i},n{i},2024-06-{1 + i % 28:02d},{i / 4}\n" for i in range(5, 400))


def _whole(path: Path, fmt: str) -> Any:
    import polars as pl

    if fmt == "csv":
        return pl.scan_csv(path, try_parse_dates=True).collect()
    if fmt == "jsonl":
        return pl.scan_ndjson(path).collect()
    return pl.scan_parquet(path).collect()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize("chunk", [1, 100, 5000])
def test_chunks_of_a_local_file_equal_the_whole_file(tmp_path: Path, fmt: str, chunk: int) -> None:
    import polars as pl

    path = tmp_path / f"rows.{fmt}"
    (tmp_path / "rows.csv").write_text(CSV)
    whole = _whole(tmp_path / "rows.csv", "csv")
    if fmt == "jsonl":
        whole.write_ndjson(path)
    elif fmt == "parquet":
        whole.write_parquet(path, row_group_size=50)
    expected = _whole(path, fmt)
    frames = list(file_chunks(fmt, str(path), path.name, expected.schema, chunk, {}))
    assert len(frames) > 1
    assert pl.concat(frames).equals(expected)
    assert expected.filter(pl.col("id") == 2)["note"].item() == 'two\nlines, and a "quote"'


def test_parquet_through_an_fsspec_file_is_read_in_record_batches(tmp_path: Path) -> None:
    import fsspec
    import polars as pl

    frame = pl.DataFrame({"id": range(3000), "s": [f"v{i}" for i in range(3000)]})
    expected = frame.with_columns(pl.lit("2024-05-01").alias("day"))
    fs = fsspec.filesystem("memory")
    with fs.open("/chunks-test/rows.parquet", "wb") as handle:
        frame.write_parquet(handle, row_group_size=700)
    try:
        frames = list(
            file_chunks(
                "parquet",
                lambda: fs.open("/chunks-test/rows.parquet", "rb"),
                "memory://chunks-test/rows.parquet",
                expected.schema,  # the scan's schema holds the folder's key=value columns
                4096,
                {"day": "2024-05-01"},
            )
        )
    finally:
        fs.rm("/chunks-test", recursive=True)
    assert len(frames) > 3
    assert pl.concat(frames).equals(expected)


def test_a_malformed_line_names_the_file(tmp_path: Path) -> None:
    import polars as pl

    from lockgate.stages.ingest.postgres import SourceError

    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1}\n{"id": \n')
    schema = pl.Schema({"id": pl.Int64})
    with pytest.raises(SourceError, match=r"^cannot read bad\.jsonl: "):
        list(file_chunks("jsonl", str(path), "bad.jsonl", schema, 4, {}))


def _folder(ws: Path, varied: bool) -> None:
    import polars as pl

    for day, extra in [("2024-05-01", False), ("2024-05-02", varied), ("2024-05-03", False)]:
        folder = ws / "raw" / f"day={day}"
        folder.mkdir(parents=True)
        cols: dict[str, Any] = {"id": [f"{day}-{k:03d}" for k in range(120)], "v": range(120)}
        if extra:
            cols["w"] = [0.5] * 120  # a column only this partition has
        pl.DataFrame(cols).write_parquet(folder / "part.parquet", row_group_size=25)


def _read(ws: Path, with_: dict[str, Any], memory: MemoryPlan | None) -> list[Any]:
    """Each batch as (one frame, watermark)."""
    import polars as pl

    cfg = parse_ingest_config(with_)
    _, _, batches = file_batches(cfg, lambda p: ws / p, lambda _: "", Journal(), memory)
    out = []
    for batch in batches:
        frame = batch.frame
        frames = (
            [frame.lazy().collect()]
            if isinstance(frame, pl.DataFrame | pl.LazyFrame)
            else list(frame)
        )
        mark = batch.watermark() if callable(batch.watermark) else batch.watermark
        out.append((pl.concat(frames, how="diagonal_relaxed"), mark, len(frames)))
    return out


@pytest.mark.parametrize(
    "extra",
    [{}, {"mode": "stream"}, {"incremental": {"watermark": "v"}}],
    ids=["batch", "stream", "watermark-column"],
)
def test_a_partitioned_folder_read_in_chunks_equals_the_unbounded_read(
    tmp_path: Path, extra: dict[str, Any]
) -> None:
    _folder(tmp_path, varied=extra.get("mode") != "stream")  # a stream refuses a new column
    with_ = {"source": {"files": {"path": "raw"}}, **extra}
    whole = _read(tmp_path, with_, None)
    chunked = _read(tmp_path, with_, MemoryPlan(16 * 2**20, 512))
    assert len(chunked) == len(whole)
    for (frame, mark, pieces), (want, want_mark, _) in zip(chunked, whole, strict=True):
        assert pieces > 2
        assert frame.equals(want)
        assert mark == want_mark
