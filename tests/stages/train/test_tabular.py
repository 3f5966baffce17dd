"""Tabular data for the train stage: a column that is not numeric is one clear error naming it
(a hive partition column such as ``day=2024-05-01`` that an ingest keeps is the usual one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.stages.train.tabular import DatasetError, load_tabular


def test_a_text_feature_column_is_named_not_a_traceback(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "rows.parquet"
    table = {"a": [0.5, 1.5], "day": ["2024-05-01", "2024-05-02"], "label": [0, 1]}
    pq.write_table(pa.table(table), path)
    with pytest.raises(DatasetError) as caught:
        load_tabular(path, "label")
    message = str(caught.value)
    assert message.startswith(f"{path}: column 'day' is not numeric (object)"), message
    assert "transform: [{drop: [day]}]" in message


def test_numeric_boolean_and_decimal_features_load(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "rows.parquet"
    from decimal import Decimal

    table = pa.table(
        {
            "a": [0.5, 1.5],
            "n": [3, 4],
            "flag": [True, False],
            "price": pa.array([Decimal("2.25"), Decimal("4.50")], pa.decimal128(6, 2)),
            "label": [0, 1],
        }
    )
    pq.write_table(table, path)
    data = load_tabular(path, "label")
    assert data.feature_names == ("a", "n", "flag", "price")
    assert data.features.tolist() == [[0.5, 3.0, 1.0, 2.25], [1.5, 4.0, 0.0, 4.5]]
