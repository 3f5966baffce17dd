"""Deliberately broken datasets, each caught by the check that names the fault; clean passes.

Real Polars over real Parquet files written to a temp workspace.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lockgate.stages.data_check.check import DataCheck
from lockgate.stages.data_check.evaluation import InMemoryEvaluation
from lockgate.stages.data_check.outcome import DataCheckOutcome
from lockgate.stages.data_check.source import Dataset
from lockgate.stages.data_check.spec import parse_spec
from lockgate.stages.data_check.watermark import WatermarkStore
from tests.stages.data_check.conftest import BASE_WITH, NOW, context, make_frame


def run(workspace: Path, current: Any, with_: dict[str, Any] | None = None) -> DataCheckOutcome:
    make_frame(2).write_parquet(workspace / "data" / "reference.parquet")
    current.write_parquet(workspace / "data" / "current.parquet")
    with_ = with_ or BASE_WITH
    ctx = context(workspace, with_)
    store = WatermarkStore.for_stage(ctx.state, ctx.stage)
    return DataCheck(parse_spec(with_), ctx.resolve, store, NOW).run()


def failed(outcome: DataCheckOutcome) -> set[tuple[str, str | None]]:
    return {(c.name, c.column) for c in outcome.failures}


def test_clean_data_passes_every_check(workspace: Path) -> None:
    outcome = run(workspace, make_frame(1))
    assert outcome.passed, [c.line() for c in outcome.failures]
    assert outcome.rows == 4000
    names = {c.name for c in outcome.checks}
    assert {
        "present",
        "type",
        "min",
        "max",
        "allowed",
        "regex",
        "unique",
        "rows_min",
        "freshness",
        "drift_psi",
        "drift_wasserstein",
        "drift_js",
        "drifted_columns",
    } <= names
    assert not any(d.drifted for d in outcome.drift)


def _nulls(df: Any) -> Any:
    import polars as pl

    return df.with_columns(
        pl.when(pl.col("id") % 10 == 0).then(None).otherwise(pl.col("age")).alias("age"),
        pl.when(pl.col("id") == 5).then(None).otherwise(pl.col("id")).alias("id"),
    )


def _out_of_range(df: Any) -> Any:
    import polars as pl

    return df.with_columns(
        pl.when(pl.col("id") == 7).then(-3).otherwise(pl.col("age")).alias("age")
    )


def _new_category(df: Any) -> Any:
    import polars as pl

    return df.with_columns(
        pl.when(pl.col("id") % 3 == 0)
        .then(pl.lit("XX"))
        .otherwise(pl.col("country"))
        .alias("country")
    )


def _missing_column(df: Any) -> Any:
    return df.drop("income")


def _wrong_type(df: Any) -> Any:
    import polars as pl

    return df.with_columns(pl.col("age").cast(pl.String))


def _duplicate_keys(df: Any) -> Any:
    import polars as pl

    return pl.concat([df, df.head(3)])


def _shifted(df: Any) -> Any:
    import polars as pl

    return df.with_columns(pl.col("score") + 1.0)


def _stale(df: Any) -> Any:
    import polars as pl

    return df.with_columns(pl.col("ts") - timedelta(days=10))


def _too_few(df: Any) -> Any:
    return df.head(500)


def _bad_email(df: Any) -> Any:
    import polars as pl

    return df.with_columns(
        pl.when(pl.col("id") == 11)
        .then(pl.lit("not-an-email"))
        .otherwise(pl.col("email"))
        .alias("email")
    )


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (_nulls, {("max_null_fraction", "age"), ("not_null", "id")}),
        (_out_of_range, {("min", "age")}),
        (_new_category, {("allowed", "country"), ("drifted_columns", None)}),
        (_missing_column, {("present", "income")}),
        (_wrong_type, {("type", "age")}),
        (_duplicate_keys, {("unique", "id"), ("unique", "email,country")}),
        (_shifted, {("drifted_columns", None)}),
        (_stale, {("freshness", "ts")}),
        (_too_few, {("rows_min", None)}),
        (_bad_email, {("regex", "email")}),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_broken_data_is_caught_by_the_named_check(
    workspace: Path, breakage: Callable[[Any], Any], expected: set[tuple[str, str | None]]
) -> None:
    outcome = run(workspace, breakage(make_frame(1)))
    assert failed(outcome) == expected


def test_shifted_column_is_the_one_reported_as_drifted(workspace: Path) -> None:
    outcome = run(workspace, _shifted(make_frame(1)))
    drifted = [d.column for d in outcome.drift if d.drifted]
    assert drifted == ["score"]
    failure = next(c for c in outcome.failures if c.name == "drifted_columns")
    assert failure.detail == "drifted: score"


def test_new_categories_are_counted_in_drift(workspace: Path) -> None:
    outcome = run(workspace, _new_category(make_frame(1)))
    country = next(d for d in outcome.drift if d.column == "country")
    assert country.new_categories == ("XX",)
    assert country.reported["new_category_fraction"] == pytest.approx(1334 / 4000)
    allowed = next(c for c in outcome.checks if c.name == "allowed")
    assert allowed.value == 1334 and "'XX'" in allowed.detail


def test_dataset_level_rule_tolerates_some_drift(workspace: Path) -> None:
    with_ = copy.deepcopy(BASE_WITH)
    with_["drift"] = {"max_drifted_columns": 1}
    outcome = run(workspace, _shifted(make_frame(1)), with_)
    assert outcome.passed
    flagged = {(c.name, c.column) for c in outcome.checks if c.verdict == "flag"}
    assert ("drift_wasserstein", "score") in flagged


def test_drifted_fraction_rule(workspace: Path) -> None:
    with_ = copy.deepcopy(BASE_WITH)
    with_["drift"] = {"max_drifted_columns": None, "max_drifted_fraction": 0.1}
    outcome = run(workspace, _shifted(make_frame(1)), with_)
    fraction = next(c for c in outcome.failures if c.name == "drifted_fraction")
    assert fraction.value == pytest.approx(1 / 4)  # age, income, score, country


def test_value_checks_on_a_wrongly_typed_column_are_not_run(workspace: Path) -> None:
    with_ = copy.deepcopy(BASE_WITH)
    with_["columns"]["age"].pop("type")
    outcome = run(workspace, _wrong_type(make_frame(1)), with_)
    skipped = {(c.name, c.column) for c in outcome.checks if c.verdict == "skipped"}
    assert skipped == {("min", "age"), ("max", "age")}


@pytest.mark.parametrize("budget", [None, "8MiB"], ids=["one-pass", "batched"])
def test_failed_value_checks_name_the_offending_values(workspace: Path, budget: str | None) -> None:
    """The offending values come from a second pass run only for failed checks; both paths."""
    import polars as pl

    broken = _bad_email(_new_category(make_frame(1))).with_columns(
        pl.when(pl.col("id") == 12).then(pl.lit("AA")).otherwise(pl.col("country")).alias("country")
    )
    with_ = {**BASE_WITH, "memory_budget": budget} if budget else BASE_WITH
    outcome = run(workspace, broken, with_)
    details = {(c.name, c.column): c.detail for c in outcome.failures}
    assert details[("allowed", "country")] == "unexpected: 'AA', 'XX'"
    assert details[("regex", "email")] == "unexpected: 'not-an-email'"
    clean = run(workspace, make_frame(1), with_)
    allowed = next(c for c in clean.checks if c.name == "allowed" and c.column == "country")
    assert (allowed.value, allowed.detail) == (0, "")


class _Scanning(InMemoryEvaluation):
    """The one-pass evaluation that never reads small data into memory: every count summed
    in the scan, as for data larger than the reference sample."""

    def small_copy(self, dataset: Dataset, columns: list[str]) -> Dataset | None:
        return None


def test_small_data_counted_in_memory_equals_its_scan(workspace: Path) -> None:
    """Data no larger than the reference sample is read once into memory and its drift counted
    from sorted copies (the reference too, from its sample): the same counts, checks and verdicts
    as the scan's, NaN and null rows included; the moments up to the last bit of a float sum."""
    import numpy as np
    import polars as pl

    current = make_frame(1).with_columns(
        pl.when(pl.col("id") % 7 == 0).then(None).otherwise(pl.col("score")).alias("score"),
        pl.when(pl.col("id") % 11 == 0)
        .then(float("nan"))
        .otherwise(pl.col("income") * 1.3)
        .alias("income"),
    )
    with_ = {**BASE_WITH, "columns": {**BASE_WITH["columns"], "income": {"type": "float"}}}
    make_frame(2).write_parquet(workspace / "data" / "reference.parquet")
    current.write_parquet(workspace / "data" / "current.parquet")
    ctx = context(workspace, with_)
    store = WatermarkStore.for_stage(ctx.state, ctx.stage)
    spec = parse_spec(with_)
    copied = DataCheck(spec, ctx.resolve, store, NOW, InMemoryEvaluation()).run()
    scanned = DataCheck(spec, ctx.resolve, store, NOW, _Scanning()).run()
    assert [(c.name, c.column, c.verdict) for c in copied.checks] == [
        (c.name, c.column, c.verdict) for c in scanned.checks
    ]
    assert [d.column for d in copied.drift] == [d.column for d in scanned.drift]
    for a, b in zip(copied.drift, scanned.drift, strict=True):
        assert (a.reference_hist, a.current_hist) == (b.reference_hist, b.current_hist)
        assert a.metrics["psi"] == b.metrics["psi"]
        assert a.reported.get("ks") == b.reported.get("ks")
        for key, value in a.metrics.items():
            assert np.isclose(value, b.metrics[key], rtol=1e-12, atol=0), (a.column, key)
    assert {d.column for d in copied.drift if d.drifted} == {"income"}  # a real shift


@pytest.mark.parametrize("budget", [None, "8MiB"], ids=["one-pass", "batched"])
def test_allowed_checks_read_off_drift_counts_equal_their_own_pass(
    workspace: Path, budget: str | None
) -> None:
    """``allowed`` checks on drift columns are judged from the drift's value counts (no
    expression of their own): among several such checks, nulls in the column and one column
    left out of drift (checked on its own), exactly the failing one is named, with the count
    and offending values the unfused checks give when drift is off."""
    import polars as pl

    def copies(frame: Any) -> Any:  # two more text columns: one with values outside its set
        return frame.with_columns(
            pl.col("country").alias("region"),
            pl.when(pl.col("id").is_in([5, 9]))
            .then(pl.lit("ZZ"))
            .otherwise(pl.col("country"))
            .alias("market"),
        )

    frame = copies(make_frame(1)).with_columns(
        pl.when(pl.col("id") % 13 == 0).then(None).otherwise(pl.col("country")).alias("country")
    )
    allowed = ["DE", "FR", "US", "JP"]
    columns = {
        "country": {"allowed": allowed},
        "region": {"allowed": allowed},
        "market": {"allowed": allowed},
        "id": {"allowed": list(range(10_000))},  # numeric: never read off text counts
    }
    base = {"data": "data/current.parquet", "reference": "data/reference.parquet"}
    if budget:
        base["memory_budget"] = budget
    fused = {**base, "columns": columns, "drift": {"exclude": ["region", "id"]}}
    alone = {**base, "columns": columns}
    frame.write_parquet(workspace / "data" / "current.parquet")
    copies(make_frame(2)).write_parquet(workspace / "data" / "reference.parquet")
    outcomes = []
    for with_ in (fused, alone):
        ctx = context(workspace, with_)
        store = WatermarkStore.for_stage(ctx.state, ctx.stage)
        outcomes.append(DataCheck(parse_spec(with_), ctx.resolve, store, NOW).run())
    assert {d.column for d in outcomes[0].drift} >= {"country", "market"}  # fused: in drift
    assert "region" not in {d.column for d in outcomes[0].drift}
    for outcome in outcomes:
        allowed_checks = {c.column: c for c in outcome.checks if c.name == "allowed"}
        assert {c for c, r in allowed_checks.items() if r.verdict == "fail"} == {"market"}
        assert allowed_checks["market"].value == 2
        assert allowed_checks["market"].detail == "unexpected: 'ZZ'"
        assert allowed_checks["country"].value == 0  # nulls are not outside the set
    assert [(c.name, c.column, c.value) for c in outcomes[0].checks if c.name == "allowed"] == [
        (c.name, c.column, c.value) for c in outcomes[1].checks if c.name == "allowed"
    ]
