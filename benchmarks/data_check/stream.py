"""The stage in a child process with ``memory_budget`` over a file 10x the budget.

Its peak RSS (``VmHWM``) is set beside that of a child that only imports the libraries, and
beside the one-pass path (no budget) over the same file: ``results/data-check-stream.json``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks import result_file
from benchmarks.data_check.suite import generate

ROOT = Path(__file__).resolve().parents[2]

STREAM_CHILD = """
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from benchmarks.data_check.stage_side import run_lockgate
from benchmarks.data_check.stream import peak_rss_mib
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
from benchmarks.data_check.stream import peak_rss_mib
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
