"""A kept dataset's journal pins what its watermark is a value of: a spec that reads past
something else is refused before anything is read, whatever the source."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.ingest import main
from tests.stages.ingest.conftest import stage_context


def _days(ws: Path, days: list[str]) -> None:
    import polars as pl

    for i, day in enumerate(days):
        folder = ws / "raw" / f"day={day}"
        folder.mkdir(parents=True, exist_ok=True)
        pl.DataFrame({"id": [10 * i + k for k in range(3)]}).write_parquet(folder / "p.parquet")


def test_a_stream_over_partitions_cannot_turn_into_a_watermark_column(tmp_path: Path) -> None:
    stream = {"source": {"files": {"path": "raw"}}, "mode": "stream"}
    first = stage_context(tmp_path, stream, "1")
    _days(first.workspace, ["2024-05-01", "2024-05-02"])
    assert main(first) == 0
    _days(first.workspace, ["2024-05-03"])
    by_column = {**stream, "incremental": {"watermark": "id"}}
    with pytest.raises(LockgateError) as caught:
        main(stage_context(tmp_path, by_column, "2"))
    message = str(caught.value)
    assert (
        "('day=2024-05-02/p.parquet') is a value of partition (mode: stream over files)" in message
    )
    assert "now reads past column 'id'" in message and "Remove incremental" in message
    # the spec as it was reads the new partition
    third = stage_context(tmp_path, stream, "3")
    assert main(third) == 0
    data = sorted(p.name for p in (tmp_path / "state/ingest/ingest/data").iterdir())
    assert data == ["part-000001.parquet", "part-000002.parquet", "part-000003.parquet"]
