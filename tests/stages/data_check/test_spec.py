"""A bad ``with:`` mapping gives one line naming the field path."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.data_check.spec import DataCheckConfigError, duration_seconds, parse_spec

TAIL = " — fix the data-check `with:` mapping"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"data": "d", "columns": {"age": {"min": "zero"}}},
            "with.columns.age.min: Input should be a valid number, "
            "unable to parse string as a number",
        ),
        (
            {"data": "d", "columns": {"age": {"mni": 0}}},
            "with.columns.age.mni: unknown key 'mni'; did you mean 'min'?",
        ),
        (
            {"data": "d", "columns": {"age": {"type": "integer"}}},
            "with.columns.age.type: Input should be 'int', 'float', 'number', 'str', 'bool', "
            "'date', 'datetime' or 'category'",
        ),
        (
            {"data": "d", "columns": {"age": {"min": 5, "max": 1}}},
            "with.columns.age: min (5.0) is greater than max (1.0)",
        ),
        (
            {"data": "d", "columns": {"e": {"regex": "("}}},
            "with.columns.e.regex: regex does not compile: missing ), unterminated subpattern at "
            "position 0",
        ),
        (
            {"data": "d", "freshness": {"column": "ts", "max_age": "2 days"}},
            "with.freshness.max_age: expected a duration like 90s, 30m, 12h, 2d, 1w or 1h30m, got '2 days'",
        ),
        ({"data": "d", "drift": {}}, "with: drift needs a reference dataset: add `reference:`"),
        (
            {"data": "d", "reference": "r", "drift": {"per_column": {"a": {"js": 2}}}},
            "with.drift.per_column.a.js: Input should be less than or equal to 1",
        ),
        (
            {"data": "d", "rows": {"min": -1}},
            "with.rows.min: Input should be greater than or equal to 0",
        ),
        ({"columns": {}}, "with.data: required key is missing"),
        ({"data": "d", "unique": [[]]}, "with.unique: a unique key needs at least one column"),
    ],
)
def test_bad_config_names_the_field(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(DataCheckConfigError) as info:
        parse_spec(raw)
    assert str(info.value) == message + TAIL
    assert isinstance(info.value, LockgateError)
    assert "\n" not in str(info.value)


def test_several_errors_are_counted_in_the_one_line() -> None:
    with pytest.raises(DataCheckConfigError) as info:
        parse_spec({"colums": {}})
    assert str(info.value) == (
        "with.data: required key is missing (and 1 more: with.colums: unknown key 'colums'; "
        "did you mean 'columns'?)" + TAIL
    )


def test_shorthands_expand() -> None:
    spec = parse_spec(
        {
            "data": "d",
            "unique": ["id", ["a", "b"]],
            "incremental": True,
            "columns": {"id": {"unique": True}, "mail": {"pii": True}},
        }
    )
    assert spec.unique_keys == (("id",), ("a", "b"))
    assert spec.incremental is not None and spec.incremental.enabled
    assert spec.pii_columns == ("mail",)


def test_per_column_thresholds_override_defaults() -> None:
    spec = parse_spec(
        {
            "data": "d",
            "reference": "r",
            "drift": {
                "numeric": {"wasserstein": None},
                "per_column": {"age": {"psi": 0.5, "js": 0.3}},
            },
        }
    )
    assert spec.drift is not None
    assert spec.drift.thresholds("age", numeric=True) == {"psi": 0.5}
    assert spec.drift.thresholds("x", numeric=True) == {"psi": 0.2}
    assert spec.drift.thresholds("age", numeric=False) == {"js": 0.3, "psi": 0.5}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("1h30m", 5400), ("2d", 172800), ("1w", 604800)],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [("512MiB", 512 * 2**20), ("2GiB", 2 * 2**30), ("300 MB", 300 * 10**6), (2**24, 2**24)],
)
def test_memory_budget_sizes(text: str | int, expected: int) -> None:
    spec = parse_spec({"data": "d.parquet", "memory_budget": text})
    assert spec.memory_budget_bytes == expected


@pytest.mark.parametrize("text", ["lots", "1MiB", "12 parsecs"])
def test_memory_budget_rejects_nonsense_and_tiny_budgets(text: str) -> None:
    with pytest.raises(DataCheckConfigError, match=r"^with\.memory_budget: "):
        parse_spec({"data": "d.parquet", "memory_budget": text})
