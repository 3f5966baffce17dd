"""The pandas-based validators: pandera and Great Expectations, with drift by numpy/scipy.

Neither tool has a drift gate of the kind lockgate's is, so each side runs the 10 checks with the
tool on the pandas frame it needs and the drift with numpy/scipy on the same frames, as a user of
those tools would. They are not a lockgate extra: ``pip install -r requirements/bench-data.txt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.data_check.polars_baseline import psi
from benchmarks.data_check.suite import CAT, LEVELS, NUM


def pandas_drift(cur: Any, ref: Any) -> list[str]:
    """Drift for the pandas-based tools: scipy's Wasserstein, numpy PSI and JS."""
    import numpy as np
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance

    drifted = []
    for n in NUM:
        a, b = ref[n].to_numpy(), cur[n].to_numpy()
        edges = np.quantile(a, np.linspace(0, 1, 11))
        edges[0], edges[-1] = -np.inf, np.inf
        ref_hist, cur_hist = np.histogram(a, edges)[0], np.histogram(b, edges)[0]
        shift = psi(ref_hist.astype(float), cur_hist.astype(float))
        w = wasserstein_distance(a, b) / a.std()
        if w > 0.1 or shift > 0.2:
            drifted.append(n)
    for n in CAT:
        ra, rb = ref[n].value_counts(), cur[n].value_counts()
        keys = sorted(set(ra.index) | set(rb.index))
        js = jensenshannon([ra.get(k, 0) for k in keys], [rb.get(k, 0) for k in keys], base=2)
        if js**2 > 0.1:
            drifted.append(n)
    return drifted


def run_pandera(data: Path, ref: Path) -> dict[str, Any]:
    import pandas as pd
    import pandera.pandas as pa

    cur, reference = pd.read_parquet(data), pd.read_parquet(ref)
    schema = pa.DataFrameSchema(
        {
            "id": pa.Column(int, nullable=False, unique=True),
            "f1": pa.Column(float, [pa.Check.in_range(-50, 50)], nullable=True),
            "f2": pa.Column(float, [pa.Check.ge(-50)]),
            "f3": pa.Column(float, [pa.Check.le(50)]),
            "c0": pa.Column(str, [pa.Check.isin(LEVELS)]),
            "c1": pa.Column(str, [pa.Check.isin(LEVELS)]),
        },
        checks=[
            pa.Check(lambda df: len(df) >= 1000, element_wise=False),
            pa.Check(lambda df: df["f1"].isna().mean() <= 0.01, element_wise=False),
        ],
    )
    try:
        schema.validate(cur, lazy=True)
        passed = True
    except pa.errors.SchemaErrors:
        passed = False
    return {"passed": passed, "drifted": pandas_drift(cur, reference)}


def run_gx(data: Path, ref: Path) -> dict[str, Any]:
    import great_expectations as gx
    import great_expectations.expectations as gxe
    import pandas as pd

    cur, reference = pd.read_parquet(data), pd.read_parquet(ref)
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("bench")
        .add_dataframe_asset("current")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": cur})
    )
    suite = gx.ExpectationSuite("bench")
    for expectation in [
        gxe.ExpectColumnValuesToNotBeNull(column="id"),
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToBeBetween(column="f1", min_value=-50, max_value=50),
        gxe.ExpectColumnValuesToBeBetween(column="f2", min_value=-50),
        gxe.ExpectColumnValuesToBeBetween(column="f3", max_value=50),
        gxe.ExpectColumnValuesToBeInSet(column="c0", value_set=LEVELS),
        gxe.ExpectColumnValuesToBeInSet(column="c1", value_set=LEVELS),
        gxe.ExpectColumnValuesToNotBeNull(column="f1", mostly=0.99),
        gxe.ExpectTableRowCountToBeBetween(min_value=1000),
    ]:
        suite.add_expectation(expectation)
    result = batch.validate(suite)
    return {"passed": bool(result.success), "drifted": pandas_drift(cur, reference)}
