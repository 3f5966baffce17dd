"""Data-check benchmark: lockgate vs hand-written Polars vs pandera vs Great Expectations.

The compared validators are not a lockgate extra: `pip install -r requirements/bench-data.txt`.

One suite (:mod:`.suite`) on the same Parquet files (generated into a temp folder): 10 checks and
drift of 20 columns against a reference. The sides: the lockgate stage (:mod:`.stage_side`), the
hand-written Polars baseline doing the work lockgate does (:mod:`.polars_baseline`: bin edges
from the same bounded reference sample, streaming selects), pandera and Great Expectations with
numpy/scipy drift (:mod:`.validators`).

Each side runs in a long-lived process of its own (:mod:`.workers`): one untimed warm-up there
(imports, page cache), then ``--repeat`` alternating rounds, one run per side per round, each
timed around the side's own work; so no side's imports, threads or allocator state share an
interpreter with another's. Medians, raw timings and the load average before and after go to
benchmarks/results/data-check.json (lockgate vs Polars) and data-check-validators.json (with the
import times of each side's libraries, measured apart in fresh interpreters). Then a streaming
run of the stage with ``memory_budget`` (:mod:`.stream`, data-check-stream.json).

    python -m benchmarks.data_check.bench --rows 2000000 --compare-rows 200000 --repeat 5
    python -m benchmarks.data_check.bench --skip compare,validators --stream-rows 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import result_file
from benchmarks.data_check.stream import stream
from benchmarks.data_check.suite import generate
from benchmarks.data_check.workers import compared_apart

ROOT = Path(__file__).resolve().parents[2]

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


def compare(root: Path, rows: int, repeat: int) -> None:
    """lockgate against the hand-written Polars baseline: results/data-check.json."""
    data, ref = root / "current.parquet", root / "reference.parquet"
    generate(data, rows, 1, shift=0.5)
    generate(ref, rows, 2)
    load = result_file.load()
    sides = compared_apart(["lockgate", "polars"], data, ref, root / "out", repeat)
    ratio = sides["polars"]["seconds_median"] / sides["lockgate"]["seconds_median"]
    result_file.write(
        "data-check",
        {
            "sides": "each in a process of its own",
            "rows": rows,
            "columns": 21,
            "file_mib": round(data.stat().st_size / 2**20, 1),
            "repeat": repeat,
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


def validators(root: Path, rows: int, repeat: int) -> None:
    """lockgate against pandera and Great Expectations: results/data-check-validators.json."""
    small, small_ref = root / "cmp.parquet", root / "cmp_ref.parquet"
    generate(small, rows, 1, shift=0.5)
    generate(small_ref, rows, 2)
    load = result_file.load()
    sides = compared_apart(["lockgate", "pandera", "gx"], small, small_ref, root / "o2", repeat)
    imports = {name: import_seconds(line, 3) for name, line in IMPORTS.items()}
    result_file.write(
        "data-check-validators",
        {
            "sides": "each in a process of its own",
            "rows": rows,
            "columns": 21,
            "repeat": repeat,
            "load_average_before": load,
            "load_average_after": result_file.load(),
            "import_seconds": imports,
            **sides,
        },
        packages=("polars", "pandas", "pandera", "great_expectations", "scipy"),
    )
    print(json.dumps(sides, default=str)[:2000], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000, help="lockgate / Polars rows")
    parser.add_argument("--compare-rows", type=int, default=200_000, help="pandera / GE rows")
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
            compare(root, args.rows, args.repeat)
        if "validators" not in skip:
            validators(root, args.compare_rows, args.repeat)
        if "stream" not in skip:
            stream(root, args.stream_rows, args.budget_mib)


if __name__ == "__main__":
    main()
