"""Distinct keys counted through hash partitions on disk equal Polars' exact ``n_unique``."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.stages.data_check.distinct import DistinctCounter


@pytest.mark.parametrize("partitions", [1, 5])
def test_partitioned_count_is_exact_with_nulls_skew_and_composite_keys(
    tmp_path: Path, partitions: int
) -> None:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(3)
    rows = 40_000
    frame = pl.DataFrame(
        {
            # half the rows share one key (skew), the rest mostly distinct, some nulls
            "a": np.where(rng.random(rows) < 0.5, 7, rng.integers(0, 30_000, rows)),
            "b": pl.Series([("x", "y", None)[i] for i in rng.integers(0, 3, rows)]),
        }
    )
    for columns in (("a",), ("a", "b")):
        counter = DistinctCounter(columns, partitions, tmp_path, limit_rows=2_000)
        for start in range(0, rows, 3_000):
            counter.add(frame.slice(start, 3_000))
        expected = frame.select(pl.struct(columns).n_unique()).item()
        assert counter.count() == expected
    assert list(tmp_path.iterdir()) == []  # partition files are removed once counted
