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


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        (
            {"X": (100, 4), "y": (150,)},
            "X has 100 rows (shape (100, 4)) but y has 150 (shape (150,)); the .npz needs one "
            "label in y per row of X",
        ),
        (
            {"X": (100, 4), "y": (90,)},
            "X has 100 rows (shape (100, 4)) but y has 90 (shape (90,)); the .npz needs one "
            "label in y per row of X",
        ),
        (
            {"X": (100, 4), "y": (100, 2)},
            "array 'y' has shape (100, 2), expected one value per row (shape (n,)); for "
            "one-hot labels store y.argmax(axis=1)",
        ),
        (
            {"a": (100,), "b": (50,), "label": (100,)},
            "its arrays have different lengths (a 100, b 50, label 100); each array is a "
            "column and needs one value per row",
        ),
    ],
)
def test_a_malformed_npz_is_one_line_naming_the_file_and_shapes(
    tmp_path: Path, arrays: dict[str, tuple[int, ...]], expected: str
) -> None:
    import numpy as np

    path = tmp_path / "rows.npz"
    np.savez(path, **{name: np.zeros(shape, np.int64) for name, shape in arrays.items()})
    with pytest.raises(DatasetError) as caught:
        load_tabular(path, "label")
    assert str(caught.value) == f"{path}: {expected}"


def test_an_npz_label_column_of_shape_n_by_1_is_taken_as_one_label_per_row(
    tmp_path: Path,
) -> None:
    import numpy as np

    path = tmp_path / "rows.npz"
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    np.savez(path, X=x, y=(x[:, :1] > 9).astype(np.int64))
    data = load_tabular(path, "label")
    assert data.target.shape == (10,) and data.target.tolist() == [0] * 5 + [1] * 5
