"""Data-check benchmark: lockgate vs hand-written Polars vs pandera vs Great Expectations.

The compared validators are not a lockgate extra: `pip install -r requirements/bench-data.txt`.

One suite on the same Parquet file (generated into a temp folder): 10 checks (not-null,
uniqueness, 4 ranges, 2 allowed-value sets, a null fraction, a row count) and drift (PSI and
Wasserstein over quantile bins; Jensen–Shannon for categoricals) of 20 columns against a
reference. pandera and Great Expectations have no drift gate of the same kind, so their suite
runs the checks with the tool and the drift with numpy/scipy on the pandas frame their
validation needs, as a user of those tools would.

Fairness: the hand-written Polars side does the work lockgate does - bin edges from the
quantiles of the same bounded reference sample (every k-th row, at most 200,000), the checks,
histograms and value counts in streaming selects. Every side is warmed up once (imports, page
cache) and then timed in ``--repeat`` alternating rounds; medians and raw timings go to
benchmarks/results/data-check.json and data-check-validators.json (import times of each side's
libraries are recorded apart, in fresh interpreters). Against pandera and Great Expectations
each side runs in a long-lived process of its own (one warm-up there, then one run per round),
so that no side's imports, threads or allocator state share an interpreter with another's.
Then a streaming run of the lockgate stage
in a subprocess with ``memory_budget`` over a file 10x larger than the budget, with its peak RSS
next to the baseline of a child that only imports the libraries (data-check-stream.json).

    python -m benchmarks.data_check.bench --rows 2000000 --compare-rows 200000 --repeat 5
    python -m benchmarks.data_check.bench --skip compare,validators --stream-rows 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import result_file
from benchmarks.data_check.workers import compared_apart

NUM = [f"f{i}" for i in range(16)]
CAT = ["c0", "c1", "c2", "c3"]
LEVELS = ["a", "b", "c", "d", "e"]
SAMPLE_ROWS = 200_000  # as lockgate.stages.data_check.bins
ROOT = Path(__file__).resolve().parents[2]


def generate(path: Path, rows: int, seed: int, shift: float = 0.0) -> None:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    step = 2_000_000
    writer_parts = []
    for start in range(0, rows, step):
        n = min(step, rows - start)
        cols: dict[str, Any] = {"id": np.arange(start, start + n, dtype="int64")}
        for i, name in enumerate(NUM):
            cols[name] = rng.normal(i + (shift if i == 0 else 0.0), 1.0 + i / 10, n)
        for name in CAT:
            cols[name] = rng.choice(LEVELS, n, p=[0.4, 0.25, 0.15, 0.1, 0.1])
        part = path.parent / f".{path.stem}-{start}.parquet"
        pl.DataFrame(cols).write_parquet(part)
        writer_parts.append(part)
    pl.scan_parquet([str(p) for p in writer_parts]).sink_parquet(path)
    for p in writer_parts:
        p.unlink()


WITH: dict[str, Any] = {
    "columns": {
        "id": {"nullable": False, "unique": True},
        "f1": {"min": -50, "max": 50, "max_null_fraction": 0.01},
        "f2": {"min": -50},
        "f3": {"max": 50},
        "c0": {"allowed": LEVELS},
        "c1": {"allowed": LEVELS},
    },
    "rows": {"min": 1000},
    "drift": {"columns": NUM + CAT, "max_drifted_columns": 0, "histograms": False},
}


def run_lockgate(data: Path, ref: Path, out: Path, budget: str | None = None) -> dict[str, Any]:
    from lockgate.stages.context import StageContext
    from lockgate.stages.data_check import main

    with_ = {**WITH, "data": str(data), "reference": str(ref), "memory_budget": budget}
    ctx = StageContext(
        data.parent, data.parent, out, data.parent, out / "state", "", "bench", "", with_
    )
    code = main(ctx)
    report = json.loads((out / "data-check.json").read_text())
    return {"exit": code, "drifted": report["drifted_columns"]}


def _psi(p: Any, q: Any) -> float:
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
        if w > 0.1 or _psi(coarse_a, coarse_b) > 0.2:
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
        psi = _psi(np.histogram(a, edges)[0].astype(float), np.histogram(b, edges)[0].astype(float))
        w = wasserstein_distance(a, b) / a.std()
        if w > 0.1 or psi > 0.2:
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


STREAM_CHILD = """
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from benchmarks.data_check.bench import peak_rss_mib, run_lockgate
start = time.perf_counter()
result = run_lockgate(Path({data!r}), Path({ref!r}), Path({out!r}), {budget!r})
result["seconds"] = time.perf_counter() - start
result["peak_rss_mib"] = peak_rss_mib()
print(json.dumps(result))
"""


BASELINE_CHILD = """
import json, resource, sys
sys.path.insert(0, {root!r})
import numpy, polars, pyarrow, pyarrow.parquet
import lockgate.stages.data_check.batched
from benchmarks.data_check.bench import peak_rss_mib
print(json.dumps({{"peak_rss_mib": peak_rss_mib()}}))
"""
CHILD_ENV = {"POLARS_MAX_THREADS": "2", "_RJEM_MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0"}


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM). Not ``ru_maxrss``: on Linux a forked child's
    ``ru_maxrss`` starts from its parent's peak, so a child of a large parent reads high."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(code: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **CHILD_ENV},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def stream_run(data: Path, ref: Path, out: Path, budget: str | None) -> dict[str, Any]:
    """The stage in a child process (budgeted when ``budget``), with its peak RSS."""
    code = STREAM_CHILD.format(
        root=str(ROOT), data=str(data), ref=str(ref), out=str(out), budget=budget
    )
    return _child(code)


IMPORTS = {
    # what a run imports: the stage's modules (pydantic for the with: models), Polars, numpy
    "lockgate": "import lockgate.stages.data_check.check, lockgate.stages.data_check.report, "
    "polars, numpy",
    "polars": "import polars, numpy",
    "pandera": "import pandas, pandera.pandas, scipy.stats",
    "gx": "import pandas, great_expectations, scipy.stats",
}


def import_seconds(module_line: str, repeat: int) -> float:
    """Median wall time of a fresh interpreter that only runs ``module_line``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", module_line], check=True, env={**os.environ})
        times.append(time.perf_counter() - start)
    return result_file.median(times)


def compared(
    sides: dict[str, Callable[[], dict[str, Any]]], repeat: int
) -> dict[str, dict[str, Any]]:
    """Each side warmed up once (imports, page cache), then ``repeat`` alternating runs."""
    verdicts: dict[str, dict[str, Any]] = {}

    def keep(name: str, fn: Callable[[], dict[str, Any]]) -> Callable[[], object]:
        return lambda: verdicts.__setitem__(name, fn())

    raw = result_file.alternate(
        {name: result_file.stopwatch(keep(name, fn)) for name, fn in sides.items()},
        repeat=repeat,
    )
    return {
        name: {"seconds_median": result_file.median(raw[name]), "raw": raw[name], **verdicts[name]}
        for name in sides
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--compare-rows", type=int, default=1_000_000, help="pandera / GE rows")
    parser.add_argument(
        "--stream-rows", type=int, default=10_000_000, help="rows of the streaming file"
    )
    parser.add_argument("--budget-mib", type=int, default=128, help="memory_budget of the run")
    parser.add_argument("--repeat", type=int, default=5, help="alternating rounds per comparison")
    parser.add_argument(
        "--skip", default="", help="comma list: compare (lockgate vs polars),validators,stream"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    skip = set(filter(None, args.skip.split(",")))
    result_file.compile_lockgate()  # the fresh interpreters below import it as installed
    with tempfile.TemporaryDirectory(prefix="lockgate-bench-") as tmp:
        root = Path(tmp)
        if "compare" not in skip:
            data, ref = root / "current.parquet", root / "reference.parquet"
            generate(data, args.rows, 1, shift=0.5)
            generate(ref, args.rows, 2)
            load = result_file.load()
            sides = compared(
                {
                    "lockgate": lambda: run_lockgate(data, ref, root / "out"),
                    "polars": lambda: run_polars(data, ref),
                },
                args.repeat,
            )
            ratio = sides["polars"]["seconds_median"] / sides["lockgate"]["seconds_median"]
            result_file.write(
                "data-check",
                {
                    "rows": args.rows,
                    "columns": 21,
                    "file_mib": round(data.stat().st_size / 2**20, 1),
                    "repeat": args.repeat,
                    "load_average_before": load,
                    "load_average_after": result_file.load(),
                    "polars_over_lockgate": round(ratio, 3),
                    **sides,
                },
                packages=("polars", "numpy"),
            )
            print(json.dumps(sides, default=str)[:2000], flush=True)
            data.unlink()
            ref.unlink()
        if "validators" not in skip:
            small, small_ref = root / "cmp.parquet", root / "cmp_ref.parquet"
            generate(small, args.compare_rows, 1, shift=0.5)
            generate(small_ref, args.compare_rows, 2)
            load = result_file.load()
            sides = compared_apart(
                ["lockgate", "pandera", "gx"], small, small_ref, root / "o2", args.repeat
            )
            imports = {name: import_seconds(line, 3) for name, line in IMPORTS.items()}
            result_file.write(
                "data-check-validators",
                {
                    "sides": "each in a process of its own",
                    "rows": args.compare_rows,
                    "columns": 21,
                    "repeat": args.repeat,
                    "load_average_before": load,
                    "load_average_after": result_file.load(),
                    "import_seconds": imports,
                    **sides,
                },
                packages=("polars", "pandas", "pandera", "great_expectations", "scipy"),
            )
            print(json.dumps(sides, default=str)[:2000], flush=True)
        if "stream" not in skip:
            stream(root, args.stream_rows, args.budget_mib)


def stream(root: Path, rows: int, budget_mib: int) -> None:
    """The stage in a child process with ``memory_budget`` over a file 10x the budget."""
    import polars as pl

    big, big_ref = root / "big.parquet", root / "big_ref.parquet"
    generate(big, rows, 3, shift=0.5)
    generate(big_ref, max(rows // 10, 1000), 4)
    in_memory_mib = pl.scan_parquet(big).head(100_000).collect().estimated_size()
    in_memory_mib *= rows / min(rows, 100_000) / 2**20
    baseline = _child(BASELINE_CHILD.format(root=str(ROOT)))["peak_rss_mib"]
    budgeted = stream_run(big, big_ref, root / "o3", f"{budget_mib}MiB")
    one_pass = stream_run(big, big_ref, root / "o4", None)
    result_file.write(
        "data-check-stream",
        {
            "rows": rows,
            "file_mib": round(big.stat().st_size / 2**20, 1),
            "in_memory_mib": round(in_memory_mib, 1),
            "budget_mib": budget_mib,
            "baseline_rss_mib": round(baseline, 1),
            "budgeted": budgeted,
            "one_pass": one_pass,
            "load_average": result_file.load(),
        },
        packages=("polars", "pyarrow", "numpy"),
    )


if __name__ == "__main__":
    main()
