"""Small generated datasets (a few thousand rows) and a stage context over a temp workspace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lockgate.stages.context import StageContext

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ROWS = 4000


def make_frame(seed: int, rows: int = ROWS, *, start_id: int = 0) -> Any:
    """A clean dataset: ids, ages, incomes, countries, emails, timestamps within the last day."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    ids = np.arange(start_id, start_id + rows)
    return pl.DataFrame(
        {
            "id": ids,
            "age": rng.integers(18, 90, rows),
            "income": rng.lognormal(10, 0.5, rows),
            "score": rng.normal(0, 1, rows),
            "country": rng.choice(["DE", "FR", "US", "JP"], rows, p=[0.4, 0.3, 0.2, 0.1]),
            "email": [f"user{i}@example.com" for i in ids],
            "ts": [NOW - timedelta(minutes=int(m)) for m in rng.integers(0, 1440, rows)],
        }
    )


BASE_WITH: dict[str, Any] = {
    "data": "data/current.parquet",
    "reference": "data/reference.parquet",
    "columns": {
        "id": {"type": "int", "nullable": False, "unique": True},
        "age": {"type": "int", "min": 0, "max": 120, "max_null_fraction": 0.01},
        "income": {"type": "float", "min": 0},
        "score": {"type": "float"},
        "country": {"type": "str", "allowed": ["DE", "FR", "US", "JP"]},
        "email": {"type": "str", "regex": r"[a-z0-9]+@example\.com"},
        "ts": {"type": "datetime"},
    },
    "unique": [["id"], ["email", "country"]],
    "rows": {"min": 1000},
    "freshness": {"column": "ts", "max_age": "2d"},
    "drift": {"max_drifted_columns": 0},
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "data").mkdir(parents=True)
    return ws


def context(workspace: Path, with_: dict[str, Any], stage: str = "validate") -> StageContext:
    root = workspace.parent
    return StageContext(
        workspace=workspace,
        inputs=root / "in",
        out=root / "out",
        secrets_dir=root / "secrets",
        state=root / "state",
        run_id="r1",
        stage=stage,
        git_sha="",
        with_=with_,
    )
