"""Drift metrics against exact values computed with numpy from the same samples."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.stages.data_check.bins import sample_exprs, sorted_quantiles
from lockgate.stages.data_check.compiler import ScanPlan
from lockgate.stages.data_check.drift import add_distributions, measure_drift, plan_drift
from lockgate.stages.data_check.outcome import ColumnDrift
from lockgate.stages.data_check.spec import DriftSpec


def _drift(
    ref: Any, cur: Any, numeric: list[str], categorical: list[str], *, whole: bool = False
) -> list[ColumnDrift]:
    """``whole``: the reference's counts come from the sorted sample, not from its scan."""
    import polars as pl

    spec = DriftSpec()
    sample = ref.select(sample_exprs(numeric, categorical))  # under SAMPLE_ROWS: every row
    dplan = plan_drift(sample, numeric, categorical, spec, explicit=False, whole=whole)
    ref_plan, cur_plan = ScanPlan(), ScanPlan()
    ref_keys = add_distributions(ref_plan, dplan, reference=True)
    cur_keys = add_distributions(cur_plan, dplan)
    ref_row, cur_row = (
        f.row(0, named=True)
        for f in pl.collect_all([ref_plan.select(ref.lazy()), cur_plan.select(cur.lazy())])
    )
    return measure_drift(spec, dplan, ref_keys, cur_keys, ref_row, cur_row)


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0, 3.0])
def test_wasserstein_matches_the_exact_distance(shift: float) -> None:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(7)
    a = rng.normal(50, 10, 20_000)
    b = rng.normal(50 + shift * 10, 10, 20_000)
    exact = float(np.mean(np.abs(np.sort(a) - np.sort(b)))) / float(np.std(a, ddof=1))
    (col,) = _drift(pl.DataFrame({"x": a}), pl.DataFrame({"x": b}), ["x"], [])
    assert col.metrics["wasserstein"] == pytest.approx(exact, abs=0.02 + 0.05 * exact)
    assert col.drifted == (shift >= 0.3)


def test_psi_of_a_known_bin_shift() -> None:
    import numpy as np
    import polars as pl

    ref = pl.DataFrame({"x": np.arange(10_000) % 10})  # uniform over 0..9
    cur = pl.DataFrame({"x": np.r_[np.zeros(5_000), np.arange(5_000) % 10]})
    (col,) = _drift(ref, cur, ["x"], [])
    p = np.full(10, 0.1)
    q = np.r_[0.55, np.full(9, 0.05)]
    assert col.metrics["psi"] == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-6)


def test_categorical_js_counts_new_categories() -> None:
    import math

    import polars as pl

    ref = pl.DataFrame({"c": ["a"] * 50 + ["b"] * 50})
    cur = pl.DataFrame({"c": ["a"] * 50 + ["z"] * 50})
    (col,) = _drift(ref, cur, [], ["c"])
    m = {"a": 0.5, "b": 0.25, "z": 0.25}
    expected = 0.5 * (0.5 * math.log2(0.5 / m["a"]) + 0.5 * math.log2(0.5 / m["b"])) + 0.5 * (
        0.5 * math.log2(0.5 / m["a"]) + 0.5 * math.log2(0.5 / m["z"])
    )
    assert col.metrics["js"] == pytest.approx(expected)
    assert col.new_categories == ("z",)
    assert col.reported["chi2_pvalue"] < 1e-6  # reported only, not a gate


def test_bin_edges_equal_separate_quantile_calls() -> None:
    """Coarse and fine edges come from one ``np.quantile`` call; each equals its own call."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(3)
    values = np.r_[rng.normal(0, 1, 5_000), np.full(500, 2.0)]  # a tie run: repeated quantiles
    dplan = plan_drift(pl.DataFrame({"x": values}), ["x"], [], DriftSpec(), explicit=False)
    coarse = np.unique(np.quantile(values, np.linspace(0, 1, DriftSpec().bins + 1)))
    fine = np.unique(np.quantile(values, np.linspace(0, 1, 101)))
    assert dplan.numeric["x"].coarse == tuple(float(v) for v in coarse)
    assert dplan.numeric["x"].fine == tuple(sorted({*map(float, coarse), *map(float, fine)}))


def test_histograms_skip_nan_and_null_values() -> None:
    """The counts at or below each edge and ``n`` leave out NaN and null, as numpy's counts of
    the finite values do (the edges compare the unfilled column: NaN sorts above them)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(5)
    finite = rng.normal(0, 1, 3_000)
    noisy = np.r_[finite, np.full(200, np.nan)]
    frame = pl.DataFrame({"x": noisy}).with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(pl.col("x")).alias("x")
    )
    dplan = plan_drift(frame, ["x"], [], DriftSpec(), explicit=False)
    plan = ScanPlan()
    keys = add_distributions(plan, dplan)["x"]
    row = plan.select(frame.lazy()).collect(engine="streaming").row(0, named=True)
    kept = frame["x"].drop_nulls().drop_nans().to_numpy()
    assert row[keys["n"]] == len(kept)
    for i, edge in enumerate(dplan.numeric["x"].fine):
        assert row[keys[f"le{i}"]] == int(np.sum(kept <= edge)), edge


@pytest.mark.parametrize("n", [1, 2, 3, 101, 5_000])
def test_quantiles_of_sorted_values_equal_numpy_bit_for_bit(n: int) -> None:
    import numpy as np

    rng = np.random.default_rng(n)
    values = np.r_[rng.normal(0, 1, n), rng.integers(0, 4, n).astype(float), [np.inf, -np.inf]]
    ordered = np.sort(values)
    q = np.concatenate([np.linspace(0, 1, 11), np.linspace(0, 1, 101)])
    with np.errstate(invalid="ignore"):  # numpy's own inf - inf between infinite neighbours
        expected = np.quantile(values, q)
    assert np.array_equal(sorted_quantiles(ordered, q), expected, equal_nan=True)


def test_whole_reference_counts_from_the_sample_equal_its_scan() -> None:
    """A reference no larger than the sample is counted from the sorted sample (no per-edge
    sums in its pass): every metric equals the scanned counts', NaN and null rows included."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(11)
    noisy = np.r_[rng.normal(0, 1, 4_000), np.full(50, np.nan), np.full(300, 1.5)]
    ref = pl.DataFrame({"x": noisy}).with_columns(
        pl.when(pl.int_range(pl.len()) % 9 == 0).then(None).otherwise(pl.col("x")).alias("x")
    )
    cur = pl.DataFrame({"x": rng.normal(0.2, 1.1, 3_000)})
    (scanned,) = _drift(ref, cur, ["x"], [])
    (counted,) = _drift(ref, cur, ["x"], [], whole=True)
    assert counted.metrics == scanned.metrics
    assert counted.reported == scanned.reported
    assert counted.reference_hist == scanned.reference_hist
    assert scanned.metrics["wasserstein"] > 0.1  # a real shift, not two empty histograms


@pytest.mark.parametrize("kind", ["mixed", "all-null", "all-nan"])
def test_tally_of_sorted_values_equals_the_pass_aggregates(kind: str) -> None:
    """A sorted copy's tally is what the pass would compute: the counts at or below each edge,
    the count, min and max of the values that are neither null nor NaN (infinities included)."""
    import numpy as np
    import polars as pl

    from lockgate.stages.data_check.bins import each_sorted_column, tally

    rng = np.random.default_rng(7)
    values = {
        "mixed": [*rng.normal(0, 1, 2_000), np.nan, np.inf, -np.inf, None, 0.5, 0.5],
        "all-null": [None, None, None],
        "all-nan": [np.nan, np.nan],
    }[kind]
    frame = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    edges = (-1.0, 0.0, 0.5, 2.0)
    sorted_tally = each_sorted_column(
        frame, ["x"], lambda _, ordered, nans: tally(ordered, edges, nans)
    )
    (found,) = sorted_tally.values()
    c = pl.col("x").fill_nan(None)
    row = frame.select(
        [(pl.col("x") <= e).sum().alias(f"le{i}") for i, e in enumerate(edges)]
        + [c.count().alias("n"), c.min().alias("min"), c.max().alias("max")]
    ).row(0, named=True)
    assert found.at_or_below == tuple(row[f"le{i}"] for i in range(len(edges)))
    assert (found.n, found.low, found.high) == (row["n"], row["min"], row["max"])
    assert found.nans == frame["x"].is_nan().sum()
