"""How ingest writes its parts: the Parquet codec and level, their size, which writes are fsynced,
and whose fault a failed read is."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.ingest import main
from lockgate.stages.ingest.config import ZSTD_LEVEL
from tests.stages.ingest.conftest import stage_context


def _raw(ws: Path) -> Any:
    import polars as pl

    frame = pl.DataFrame(
        {"id": list(range(5000)), "name": [f"customer-{i % 97}" for i in range(5000)]}
    )
    (ws / "raw").mkdir(parents=True)
    frame.write_parquet(ws / "raw" / "part.parquet")
    return frame


def _encoded(frame: Any, compression: str, level: int | None) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf, compression=compression, compression_level=level)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("output", "compression", "level"),
    [
        ({}, "zstd", ZSTD_LEVEL),
        ({"level": 19}, "zstd", 19),
        ({"compression": "snappy"}, "snappy", None),
    ],
)
def test_parts_are_written_with_the_declared_codec_and_level(
    tmp_path: Path, output: dict[str, Any], compression: str, level: int | None
) -> None:
    ctx = stage_context(tmp_path, {"source": {"files": {"path": "raw"}}, "output": output})
    frame = _raw(ctx.workspace)
    assert main(ctx) == 0
    part = (ctx.out / "data" / "part-000001.parquet").read_bytes()
    # Polars writes the same bytes for the same frame and settings: the part is exactly the
    # frame encoded with the codec and level asked for, and not with the other zstd level
    assert part == _encoded(frame, compression, level)
    if compression == "zstd":
        other = 19 if level == ZSTD_LEVEL else ZSTD_LEVEL
        assert part != _encoded(frame, "zstd", other)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ({"compression": "snappy", "level": 3}, "output.level applies to zstd only"),
        ({"level": 0}, "with.output.level"),
        ({"level": 23}, "with.output.level"),
    ],
)
def test_a_level_zstd_cannot_take_is_one_clear_error(
    tmp_path: Path, output: dict[str, Any], message: str
) -> None:
    ctx = stage_context(tmp_path, {"source": {"files": {"path": "raw"}}, "output": output})
    _raw(ctx.workspace)
    with pytest.raises(LockgateError, match=message):
        main(ctx)
    assert not (ctx.out / "data").exists()


def _fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of every fsync the stage makes (each call still reaches the kernel)."""
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def test_a_dataset_written_afresh_is_not_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a watermark the parts go straight to the stage's output, which nothing resumes
    from (a crash runs the stage again), so no fsync is paid."""
    ctx = stage_context(tmp_path, {"source": {"files": {"path": "raw"}}})
    _raw(ctx.workspace)
    synced = _fsynced(monkeypatch)
    assert main(ctx) == 0
    assert (ctx.out / "data" / "part-000001.parquet").is_file()
    assert synced == []


def test_a_kept_dataset_is_durable_before_its_journal_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a watermark the dataset is kept in the state folder and resumed from: each part,
    the journal and their folders are fsynced there, and nothing in the output is."""
    ctx = stage_context(
        tmp_path,
        {"source": {"files": {"path": "raw"}}, "mode": "stream", "batch": {"max_rows": 2000}},
    )
    _raw(ctx.workspace)
    synced = _fsynced(monkeypatch)
    assert main(ctx) == 0
    state = (ctx.state / "ingest" / "ingest").resolve()
    assert synced, "nothing was fsynced"
    assert all(Path(p).is_relative_to(state) for p in synced), synced
    names = {Path(p).name for p in synced}
    assert any(n.startswith(".part-") for n in names), names
    assert ".journal.json.tmp" in names
    assert {"data", state.name} <= names  # the folders the renames happened in


@pytest.mark.parametrize(
    ("batch", "sizes"),
    [({"max_rows": 2000}, [2000, 2000, 1000]), ({"max_rows": 5000, "max_bytes": 40_000}, None)],
)
def test_a_file_stream_cuts_its_partition_into_bounded_parts(
    tmp_path: Path, batch: dict[str, int], sizes: list[int] | None
) -> None:
    """A stream reads a partition whole (it cannot resume inside a file), and its rows are
    written as parts of at most max_rows rows and about max_bytes bytes."""
    ctx = stage_context(
        tmp_path, {"source": {"files": {"path": "raw"}}, "mode": "stream", "batch": batch}
    )
    frame = _raw(ctx.workspace)
    assert main(ctx) == 0
    manifest = json.loads((ctx.out / "manifest.json").read_text())
    rows = [f["rows"] for f in manifest["files"]]
    assert sum(rows) == frame.height and manifest["this_run"]["batches"] == 1
    if sizes is not None:
        assert rows == sizes
    else:  # each part's rows take about 40,000 bytes in memory (widths are estimates)
        width = frame.estimated_size() / frame.height
        assert len(rows) > 1 and 30_000 <= max(rows) * width <= 44_000


def test_a_bad_value_with_no_transform_is_blamed_on_the_data(tmp_path: Path) -> None:
    """Past the rows Polars infers types from, a value that does not parse fails when the batch
    is collected: with no transform declared, it is the data's fault, not the transform's."""
    ctx = stage_context(tmp_path, {"source": {"files": {"path": "raw/a.csv"}}})
    (ctx.workspace / "raw").mkdir(parents=True)
    rows = "\n".join(str(i) for i in range(500))
    (ctx.workspace / "raw" / "a.csv").write_text(f"n\n{rows}\nnot-a-number\n")
    with pytest.raises(LockgateError) as caught:
        main(ctx)
    assert str(caught.value).startswith("with.source: cannot read the data: ")
    assert "transform" not in str(caught.value)
