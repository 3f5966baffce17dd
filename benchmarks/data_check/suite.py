"""The data the data-check benchmarks run on, and the suite every side checks.

Data: an ``id`` column, 16 normal float columns (``f0``..``f15``) and 4 five-level string columns
(``c0``..``c3``), written as Parquet in 2M-row parts and merged into one file. The current data
shifts ``f0`` by half a standard deviation, so every side must report exactly ``f0`` as drifted.

Suite (``WITH``, the lockgate stage's ``with:``): 10 checks (not-null and unique id, f1 min and
max, f2 min, f3 max, allowed values on c0 and c1, null fraction of f1, a row-count floor) and
drift of the 20 numeric and string columns against a reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

NUM = [f"f{i}" for i in range(16)]
CAT = ["c0", "c1", "c2", "c3"]
LEVELS = ["a", "b", "c", "d", "e"]
SAMPLE_ROWS = 200_000  # as lockgate.stages.data_check.bins
PART_ROWS = 2_000_000

WITH: dict[str, Any] = {
    "columns": {
        "id": {"nullable": False, "unique": True},
        "f1": {"min": -50, "max": 50, "max_null_fraction": 0.01},
        "f2": {"min": -50},
        "f3": {"max": 50},
        "c0": {"allowed": LEVELS},
        "c1": {"allowed": LEVELS},
    },
    "rows": {"min": 1000},
    "drift": {"columns": NUM + CAT, "max_drifted_columns": 0, "histograms": False},
}


def generate(path: Path, rows: int, seed: int, shift: float = 0.0) -> None:
    """``rows`` rows of the benchmark's columns into ``path`` (``shift`` added to ``f0``)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    parts = []
    for start in range(0, rows, PART_ROWS):
        n = min(PART_ROWS, rows - start)
        cols: dict[str, Any] = {"id": np.arange(start, start + n, dtype="int64")}
        for i, name in enumerate(NUM):
            cols[name] = rng.normal(i + (shift if i == 0 else 0.0), 1.0 + i / 10, n)
        for name in CAT:
            cols[name] = rng.choice(LEVELS, n, p=[0.4, 0.25, 0.15, 0.1, 0.1])
        part = path.parent / f".{path.stem}-{start}.parquet"
        pl.DataFrame(cols).write_parquet(part)
        parts.append(part)
    pl.scan_parquet([str(p) for p in parts]).sink_parquet(path)
    for p in parts:
        p.unlink()
