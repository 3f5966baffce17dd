"""Peak memory of the batched path does not grow with the input.

The stage runs in child processes on generated Parquet files (21 columns: an id, 16 floats,
4 strings; the benchmark's shape) with ``memory_budget: 32MiB``, and each child's peak RSS is
read from ``ru_maxrss`` (``RUSAGE_CHILDREN`` of a one-shot wrapper process, so only that child
is measured). The children run with Polars' allocator told to hand freed pages back at once
(``_RJEM_MALLOC_CONF=dirty_decay_ms:0``, as docs/data-check.md recommends for budgeted runs);
otherwise RSS counts pages already freed.

What the assertion compares: the peak on a 500k-row file (about 85 MiB in memory, plus a 50k-row
reference) must stay within the budget above the peak of the same stage on a 2k-row file.
The small run is the baseline: the interpreter and libraries (importing polars, pyarrow and
numpy alone peaks at about 90-100 MiB) plus the evaluation's fixed working set (thread pools,
the ~1 700 expressions of the plan, allocator arenas; about 40-60 MiB more), which does not
depend on the input. A path whose memory grows with the data fails it: the one-pass path on
the same file peaks about 150 MiB above the baseline, and the test checks that too, so the
bound is shown to discriminate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.data_check.suite import WITH, generate

ROOT = Path(__file__).resolve().parents[3]
BUDGET_MIB = 32
CHILD = """
import json, sys
from pathlib import Path
from benchmarks.data_check.suite import WITH
from lockgate.stages.context import StageContext
from lockgate.stages.data_check import main
with_ = json.loads(sys.argv[1])
out = Path(sys.argv[2])
main(StageContext(out, out, out, out, out / "state", "", "mem", "", with_))
"""
WRAPPER = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def _peak_mib(with_: dict[str, object], out: Path) -> float:
    env = {
        **os.environ,
        "POLARS_MAX_THREADS": "2",
        "_RJEM_MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0",
    }
    args = [sys.executable, "-c", CHILD, json.dumps(with_), str(out)]
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def test_peak_rss_stays_within_the_budget_above_a_tiny_run(tmp_path: Path) -> None:
    files = {}
    for name, rows, seed in [("tiny", 2_000, 1), ("big", 500_000, 1), ("ref", 50_000, 2)]:
        files[name] = tmp_path / f"{name}.parquet"
        generate(files[name], rows, seed, shift=0.5 if name != "ref" else 0.0)
    budgeted = {**WITH, "reference": str(files["ref"]), "memory_budget": f"{BUDGET_MIB}MiB"}
    tiny = _peak_mib({**budgeted, "data": str(files["tiny"])}, tmp_path / "o1")
    big = _peak_mib({**budgeted, "data": str(files["big"])}, tmp_path / "o2")
    one_pass = {**budgeted, "data": str(files["big"]), "memory_budget": None}
    unbounded = _peak_mib(one_pass, tmp_path / "o3")
    print(f"peaks MiB: tiny {tiny:.0f}, big {big:.0f}, one pass {unbounded:.0f}")
    assert big <= tiny + BUDGET_MIB, (tiny, big, unbounded)
    assert unbounded > tiny + BUDGET_MIB, (tiny, big, unbounded)
