"""The default no-op re-run: `lockgate run` with no `--executor` on a fully cached 10-stage chain,
this checkout against another one (``--baseline DIR``, e.g. a worktree of an older commit), in
alternating runs so machine load hits both alike; `--executor local` as the floor.

    python -m benchmarks.executor_choice --baseline DIR [--repeat 15]

Writes benchmarks/results/executor-choice.json through ``result_file.write`` (machine, versions,
the baseline's commit, every raw timing, the medians, the load average before and after); the
table in docs/benchmarks/README.md is generated from it (``benchmarks/engine_tables.py``).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import result_file
from benchmarks.engine import STAGES, ten_stage_project

REPO = Path(__file__).resolve().parents[1]


def once(checkout: Path, root: Path, *extra: str) -> float:
    """One whole `lockgate run` of ``checkout``'s lockgate in project ``root``, timed."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "NO_COLOR": "1"}
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "lockgate", "run", *extra],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t


def side(checkout: Path, root: Path, *extra: str) -> Callable[[], float]:
    return lambda: once(checkout, root, *extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="checkout to compare with")
    parser.add_argument("--repeat", type=int, default=15, help="alternating rounds")
    args = parser.parse_args()
    baseline = args.baseline.resolve()
    before = result_file.load()
    # both sides run from source; compiled as an installed lockgate is, so neither compiles its
    # modules on every run
    bytecode = result_file.compile_lockgate()
    compileall.compile_dir(str(baseline / "lockgate"), quiet=1)
    # One project per checkout: the compiled plan is cached keyed by lockgate's own source, so
    # sharing one project would make each side re-plan after the other.
    with tempfile.TemporaryDirectory() as tmp:
        mine, theirs = Path(tmp) / "current", Path(tmp) / "baseline"
        for root, checkout in ((mine, REPO), (theirs, baseline)):
            ten_stage_project(root)
            once(checkout, root, "--executor", "local")  # fills the cache
        raw = result_file.alternate(
            {
                "baseline_default": side(baseline, theirs),
                "default": side(REPO, mine),
                "local": side(REPO, mine, "--executor", "local"),
            },
            repeat=args.repeat,
        )
    payload: dict[str, object] = {f"{k}_s": result_file.median(v) for k, v in raw.items()}
    payload.update(
        raw={k: [round(x, 4) for x in v] for k, v in raw.items()},
        repeat=args.repeat,
        warmup=1,
        stages=STAGES,
        baseline=result_file.baseline_name(baseline),
        baseline_revision=result_file.revision(baseline),
        bytecode=f"{bytecode} (both checkouts)",
        load_average_before=before,
        load_average_after=result_file.load(),
    )
    path = result_file.write("executor-choice", payload)
    print(json.dumps(payload, indent=2, sort_keys=True))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
