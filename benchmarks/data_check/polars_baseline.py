"""The hand-written Polars baseline: what a user writes by hand to do the work lockgate does.

Bin edges from the quantiles of the same bounded reference sample lockgate takes (every k-th
row, at most 200,000 rows; ``np.quantile``, numpy's ``linear`` method, as lockgate's edges are),
then the checks, the histograms over those edges, the value counts and the reference's standard
deviations in streaming selects, collected together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.data_check.suite import CAT, LEVELS, NUM, SAMPLE_ROWS


def psi(p: Any, q: Any) -> float:
    import numpy as np

    p, q = np.maximum(p / p.sum(), 1e-4), np.maximum(q / q.sum(), 1e-4)
    return float(np.sum((q - p) * np.log(q / p)))


def run_polars(data: Path, ref: Path) -> dict[str, Any]:
    """What a user writes by hand, doing the work lockgate does: one streaming select of the
    checks; bin edges from the quantiles of the same bounded reference sample (every k-th row,
    at most 200,000 rows); histograms and value counts in streaming selects."""
    import math

    import numpy as np
    import polars as pl

    cur, reference = pl.scan_parquet(data), pl.scan_parquet(ref)
    c = pl.col
    checks = cur.select(
        c("id").null_count().alias("id_nulls"),
        (pl.len() - c("id").n_unique()).alias("id_dups"),
        c("f1").min().alias("f1_min"),
        c("f1").max().alias("f1_max"),
        c("f2").min().alias("f2_min"),
        c("f3").max().alias("f3_max"),
        (~c("c0").is_in(LEVELS)).sum().alias("c0_bad"),
        (~c("c1").is_in(LEVELS)).sum().alias("c1_bad"),
        (c("f1").null_count() / pl.len()).alias("f1_null_frac"),
        pl.len().alias("rows"),
    )
    rows = reference.select(pl.len()).collect(engine="streaming").item()
    step = max(1, math.ceil(rows / SAMPLE_ROWS))
    sample = (
        reference.with_row_index("row")
        .filter(c("row") % step == 0)
        .select(NUM)
        .collect(engine="streaming")
    )
    edges_q: dict[str, Any] = {}
    for n in NUM:
        column = sample[n].drop_nulls().to_numpy()
        for i, q in enumerate(np.quantile(column, np.linspace(0, 1, 101))):
            edges_q[f"{n}_{i}"] = float(q)
    del sample
    hists, cats = [], []
    for n in NUM:
        edges = sorted({edges_q[f"{n}_{i}"] for i in range(101)})
        bins = [-np.inf, *edges, np.inf]
        hists.append(
            c(n)
            .hist(bins=bins, include_breakpoint=False, include_category=False)
            .implode()
            .alias(n)
        )
    for n in CAT:
        cats.append(c(n).value_counts().implode().alias(n))
    stds = [c(n).std().alias(f"{n}_std") for n in NUM]
    r_checks, r_ref, r_cur = pl.collect_all(
        [checks, reference.select(hists + cats + stds), cur.select(hists + cats)],
        engine="streaming",
    )
    edges_q.update({f"{n}_std": r_ref[f"{n}_std"][0] for n in NUM})
    ok = r_checks.row(0, named=True)
    passed = ok["id_nulls"] == 0 and ok["id_dups"] == 0 and ok["c0_bad"] == 0
    drifted = []
    for n in NUM:
        edges = sorted({edges_q[f"{n}_{i}"] for i in range(101)})
        a, b = np.array(r_ref[n][0], float), np.array(r_cur[n][0], float)
        fa, fb = np.cumsum(a)[:-1] / a.sum(), np.cumsum(b)[:-1] / b.sum()
        w = float(np.trapezoid(np.abs(fa - fb), edges)) / edges_q[f"{n}_std"]
        coarse_a = np.add.reduceat(a, list(range(0, len(a), 10)))
        coarse_b = np.add.reduceat(b, list(range(0, len(b), 10)))
        if w > 0.1 or psi(coarse_a, coarse_b) > 0.2:
            drifted.append(n)
    for n in CAT:
        ra = {d[n]: d["count"] for d in r_ref[n][0]}
        rb = {d[n]: d["count"] for d in r_cur[n][0]}
        keys = sorted(set(ra) | set(rb))
        p = np.array([ra.get(k, 0) for k in keys], float)
        q = np.array([rb.get(k, 0) for k in keys], float)
        p, q = p / p.sum(), q / q.sum()
        m = (p + q) / 2
        js = 0.5 * np.sum(p[p > 0] * np.log2(p[p > 0] / m[p > 0])) + 0.5 * np.sum(
            q[q > 0] * np.log2(q[q > 0] / m[q > 0])
        )
        if js > 0.1:
            drifted.append(n)
    return {"passed": passed, "drifted": drifted}
