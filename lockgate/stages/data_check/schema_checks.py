"""Checks answered by the schema alone: column presence, types, unexpected columns.

No data is read here; the schema comes from ``LazyFrame.collect_schema()`` (file metadata for
Parquet). A column that is missing, or has the wrong type, makes the value checks that need it
``skipped`` so the one compiled pass never fails on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from lockgate.stages.data_check.outcome import CheckResult
from lockgate.stages.data_check.spec import DataCheckSpec

if TYPE_CHECKING:
    import polars as pl


def type_names(dtype: pl.DataType) -> set[str]:
    """The ``type:`` names of the spec that ``dtype`` satisfies."""
    import polars as pl

    names: set[str] = set()
    if dtype.is_integer():
        names |= {"int", "number"}
    elif dtype.is_float():
        names |= {"float", "number"}
    elif dtype.is_numeric():
        names.add("number")
    base = dtype.base_type()
    if base in (pl.String, pl.Categorical, pl.Enum):
        names.add("category")
    if base == pl.String:
        names.add("str")
    if base == pl.Boolean:
        names.add("bool")
    if base == pl.Date:
        names.add("date")
    if base == pl.Datetime:
        names.add("datetime")
    return names


def schema_checks(spec: DataCheckSpec, schema: Mapping[str, pl.DataType]) -> list[CheckResult]:
    results: list[CheckResult] = []
    for name, col in spec.columns.items():
        present = name in schema
        if col.required or present:
            results.append(
                CheckResult(
                    "present",
                    name,
                    present,
                    True,
                    "pass" if present or not col.required else "fail",
                    "" if present else "column is missing",
                )
            )
        if col.type is not None and present:
            actual = str(schema[name])
            ok = col.type in type_names(schema[name])
            results.append(CheckResult("type", name, actual, col.type, "pass" if ok else "fail"))
    if spec.extra_columns == "fail":
        extra = sorted(set(schema) - set(spec.columns))
        results.append(
            CheckResult(
                "no_extra_columns",
                None,
                extra,
                [],
                "fail" if extra else "pass",
                "columns not declared in with.columns" if extra else "",
            )
        )
    return results
