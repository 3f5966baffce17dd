"""Drift of each column against a reference dataset.

Numeric columns: histograms over bin edges taken from the reference's quantiles (a bounded
sample of it), from which PSI (``bins`` quantile bins), Wasserstein-1 (over 100 quantile bins,
divided by the reference's standard deviation so thresholds are unit-free) and the KS
statistic are computed. Categorical columns: value counts, from which Jensen–Shannon
divergence (base 2, in [0, 1]) and PSI are computed, with categories unseen in the reference
counted. KS and chi-square p-values are reported only.

The current-side histograms are expressions added to the one :class:`ScanPlan` of the check
pass; the reference side is a plan of the same shape over the reference.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lockgate.stages.data_check.bins import Edges, Tally, column_edges, each_sorted_column
from lockgate.stages.data_check.compiler import ScanPlan
from lockgate.stages.data_check.outcome import ColumnDrift
from lockgate.stages.data_check.partials import mean_std
from lockgate.stages.data_check.pvalues import chi2_homogeneity, ks_pvalue
from lockgate.stages.data_check.schema_checks import type_names
from lockgate.stages.data_check.spec import DataCheckSpec, DriftSpec

if TYPE_CHECKING:
    import polars as pl

MAX_CATEGORIES = 200
EPS = 1e-4


@dataclass(frozen=True)
class DriftPlan:
    numeric: dict[str, Edges]
    categorical: tuple[str, ...]
    skipped: tuple[str, ...]


def drift_columns(
    spec: DataCheckSpec, current: Mapping[str, pl.DataType], reference: Mapping[str, pl.DataType]
) -> tuple[list[str], list[str]]:
    """Numeric and categorical columns to compare (shared, same kind in both)."""
    drift = spec.drift
    assert drift is not None
    if drift.columns is not None:
        names = list(drift.columns)
    else:
        keys = {key[0] for key in spec.unique_keys if len(key) == 1}
        names = [c for c in current if c not in keys and c not in spec.pii_columns]
    numeric, categorical = [], []
    for name in names:
        if name in drift.exclude or name not in current or name not in reference:
            continue
        kinds_now, kinds_ref = type_names(current[name]), type_names(reference[name])
        if "number" in kinds_now and "number" in kinds_ref:
            numeric.append(name)
        elif kinds_now & {"category", "bool"} and kinds_ref & {"category", "bool"}:
            categorical.append(name)
    return numeric, categorical


def plan_drift(
    sample: pl.DataFrame,
    numeric: list[str],
    categorical: list[str],
    drift: DriftSpec,
    *,
    explicit: bool,
    whole: bool = False,
) -> DriftPlan:
    """Bin edges and the categorical columns kept, from a bounded sample of the reference
    (``whole``: the sample is every row of the reference, see :func:`~.bins.column_edges`)."""
    if not numeric and not categorical:
        return DriftPlan({}, (), ())
    edges = each_sorted_column(
        sample,
        numeric,
        lambda _, ordered, nans: column_edges(ordered, drift.bins, whole=whole, nans=nans),
    )
    kept = [c for c in categorical if explicit or sample[c].n_unique() <= MAX_CATEGORIES]
    skipped = tuple(c for c in categorical if c not in kept)
    return DriftPlan(edges, tuple(kept), skipped)


def add_distributions(
    plan: ScanPlan,
    drift_plan: DriftPlan,
    *,
    reference: bool = False,
    counted: Mapping[str, Tally] | None = None,
) -> dict[str, dict[str, str]]:
    """Add the histogram / value-count expressions of every drift column to ``plan``; on the
    ``reference`` side, not the counts, count, min and max the sample already gave
    (``Edges.reference``), nor those of the ``counted`` columns (whose :class:`~.bins.Tally` the
    caller read off a sorted copy): only their moments. The spread (``m2``) is the reference's
    only: Wasserstein is scaled by the reference's standard deviation, and nothing reads the
    current data's, so its pass leaves the variance out (``m2`` null, see
    :func:`~.partials.mean_std`). A tallied column that holds no NaN takes its moments as read
    (turning NaN into nulls would copy it for nothing)."""
    import polars as pl

    keys: dict[str, dict[str, str]] = {}
    for name, edges in drift_plan.numeric.items():
        known = (counted or {}).get(name) or (edges.reference if reference else None)
        raw = pl.col(name).cast(pl.Float64)
        c = raw if known is not None and known.nans == 0 else raw.fill_nan(None)
        spread = c.var(ddof=0) * c.count() if reference else pl.lit(None, dtype=pl.Float64)
        moments = pl.struct(c.count().alias("n"), c.mean().alias("mean"), spread.alias("m2"))
        # counts at or below each edge: plain sums stream in bounded memory (a histogram
        # expression would hold the whole column). They compare the raw column: Polars orders
        # NaN above every number, so ``NaN <= edge`` is false for the edges (never NaN) as the
        # nulls ``fill_nan`` would make are not counted, without a filled copy per edge. (An
        # edge is NaN only when the sample holds both infinities; it keeps the filled column.)
        keys[name] = {"moments": plan.add(moments, "moments", "mom")}
        if known is None:
            keys[name] |= {
                **{
                    f"le{i}": plan.add(
                        ((c if math.isnan(edge) else raw) <= edge).sum(), "sum", "le"
                    )
                    for i, edge in enumerate(edges.fine)
                },
                "n": plan.add(c.count(), "sum", "n"),
                "min": plan.add(c.min(), "min", "min"),
                "max": plan.add(c.max(), "max", "max"),
            }
    for name in drift_plan.categorical:
        counts = pl.col(name).cast(pl.String).drop_nulls().value_counts().implode()
        keys[name] = {"counts": plan.add(counts, "counts", "vc")}
    return keys


def _hist(values: Mapping[str, Any], edges: int) -> list[int]:
    """Bin counts (-inf, e0], (e0, e1], ..., (e_last, inf) from the counts at or below edges."""
    at_or_below = [int(values[f"le{i}"]) for i in range(edges)]
    bounds = [0, *at_or_below, int(values["n"])]
    return [bounds[i + 1] - bounds[i] for i in range(len(bounds) - 1)]


def _cdf(counts: Sequence[int]) -> list[float]:
    total = sum(counts) or 1
    out, running = [], 0
    for c in counts[:-1]:  # the CDF at each fine edge
        running += c
        out.append(running / total)
    return out


def _psi(ref: Sequence[float], cur: Sequence[float]) -> float:
    rt, ct = sum(ref) or 1, sum(cur) or 1
    total = 0.0
    for r, c in zip(ref, cur, strict=True):
        p, q = max(r / rt, EPS), max(c / ct, EPS)
        total += (q - p) * math.log(q / p)
    return total


def _js(ref: Sequence[float], cur: Sequence[float]) -> float:
    rt, ct = sum(ref) or 1, sum(cur) or 1
    total = 0.0
    for r, c in zip(ref, cur, strict=True):
        p, q = r / rt, c / ct
        m = (p + q) / 2
        total += sum(0.5 * x * math.log2(x / m) for x in (p, q) if x > 0)
    return min(max(total, 0.0), 1.0)


def _values(
    row: Mapping[str, Any], keys: Mapping[str, str], known: Tally | None = None
) -> dict[str, Any]:
    """A column's values from its pass row, completed by its ``known`` tally if it has one."""
    values = {k: row[v] for k, v in keys.items()}
    if "moments" in values:
        values["mean"], values["std"] = mean_std(values.pop("moments"))
    if known is not None:
        values |= {f"le{i}": n for i, n in enumerate(known.at_or_below)}
        values |= {"n": known.n, "min": known.low, "max": known.high}
    return values


def _numeric(
    name: str,
    edges: Edges,
    ref: Mapping[str, Any],
    cur: Mapping[str, Any],
    thresholds: dict[str, float],
) -> ColumnDrift:
    fine = list(edges.fine)
    ref_hist, cur_hist = _hist(ref, len(fine)), _hist(cur, len(fine))
    f_ref, f_cur = _cdf(ref_hist), _cdf(cur_hist)
    gaps = [abs(a - b) for a, b in zip(f_ref, f_cur, strict=True)]
    area = sum((gaps[i] + gaps[i + 1]) / 2 * (fine[i + 1] - fine[i]) for i in range(len(fine) - 1))
    if fine:
        low = min(v for v in (ref["min"], cur["min"], fine[0]) if v is not None)
        high = max(v for v in (ref["max"], cur["max"], fine[-1]) if v is not None)
        area += gaps[0] / 2 * (fine[0] - low) + gaps[-1] / 2 * (high - fine[-1])
    spread = ref["std"] if ref["std"] and ref["std"] > 0 else 1.0
    interior = list(edges.coarse[1:-1])
    upper = [*fine, math.inf]
    coarse_ref = [0.0] * (len(interior) + 1)
    coarse_cur = [0.0] * (len(interior) + 1)
    for i, bound in enumerate(upper):
        j = bisect.bisect_left(interior, bound)
        coarse_ref[j] += ref_hist[i]
        coarse_cur[j] += cur_hist[i]
    ks = max(gaps, default=0.0)
    labels = [f"≤{e:.3g}" for e in interior] + [f">{interior[-1]:.3g}" if interior else "all"]
    return ColumnDrift(
        column=name,
        kind="numeric",
        metrics={"psi": _psi(coarse_ref, coarse_cur), "wasserstein": area / spread},
        thresholds=thresholds,
        reported={
            "ks": ks,
            "ks_pvalue": ks_pvalue(ks, int(ref["n"]), int(cur["n"])),
            "mean_reference": ref["mean"],
            "mean_current": cur["mean"],
        },
        reference_hist=tuple(coarse_ref),
        current_hist=tuple(coarse_cur),
        bin_labels=tuple(labels),
    )


def _counts(pairs: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """``value_counts`` structs ``{<column>: value, "count": n}`` as a dict."""
    out = {}
    for pair in pairs:
        value, count = pair.values()
        out[str(value)] = int(count)
    return out


def _categorical(
    name: str, ref: Mapping[str, Any], cur: Mapping[str, Any], thresholds: dict[str, float]
) -> ColumnDrift:
    ref_counts = _counts(ref["counts"])
    cur_counts = _counts(cur["counts"])
    cats = sorted(set(ref_counts) | set(cur_counts), key=lambda k: -ref_counts.get(k, 0))
    r = [float(ref_counts.get(k, 0)) for k in cats]
    c = [float(cur_counts.get(k, 0)) for k in cats]
    new = tuple(k for k in cats if k not in ref_counts)
    stat, p = chi2_homogeneity(r, c)
    new_rows = sum(cur_counts[k] for k in new)
    return ColumnDrift(
        column=name,
        kind="categorical",
        metrics={"js": _js(r, c), "psi": _psi(r, c)},
        thresholds=thresholds,
        reported={
            "chi2": stat,
            "chi2_pvalue": p,
            "new_category_fraction": new_rows / (sum(c) or 1),
        },
        new_categories=new,
        reference_hist=tuple(r[:20]),
        current_hist=tuple(c[:20]),
        bin_labels=tuple(cats[:20]),
    )


def measure_drift(
    drift: DriftSpec,
    drift_plan: DriftPlan,
    ref_keys: Mapping[str, Mapping[str, str]],
    cur_keys: Mapping[str, Mapping[str, str]],
    ref_row: Mapping[str, Any],
    cur_row: Mapping[str, Any],
    current: Mapping[str, Tally] | None = None,
) -> list[ColumnDrift]:
    """The drift of every column; ``current``: the current side's tallies of the columns whose
    pass did not count them (see :func:`add_distributions`)."""
    out = []
    for name, edges in drift_plan.numeric.items():
        known = edges.reference if "n" not in ref_keys[name] else None
        ref = _values(ref_row, ref_keys[name], known)
        cur = _values(cur_row, cur_keys[name], (current or {}).get(name))
        out.append(_numeric(name, edges, ref, cur, drift.thresholds(name, numeric=True)))
    for name in drift_plan.categorical:
        ref, cur = _values(ref_row, ref_keys[name]), _values(cur_row, cur_keys[name])
        out.append(_categorical(name, ref, cur, drift.thresholds(name, numeric=False)))
    return out
