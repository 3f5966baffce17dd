"""The default no-op re-run: `lockgate run` with no `--executor` on a fully cached 10-stage chain,
this checkout against another one (``--baseline DIR``, e.g. a worktree of an older commit), in
alternating runs so machine load hits both alike; `--executor local` as the floor.

    python benchmarks/executor_choice.py --baseline DIR [--repeat 15]

Writes benchmarks/results/executor-choice.json (medians, in seconds, and the load average).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.engine import ten_stage_project

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "benchmarks" / "results" / "executor-choice.json"


def once(checkout: Path, root: Path, *extra: str) -> float:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, required=True, help="checkout to compare with")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"baseline_default_s": [], "default_s": [], "local_s": []}
    # One project per checkout: the compiled plan is cached keyed by lockgate's own source, so
    # sharing one project would make each side re-plan after the other.
    with tempfile.TemporaryDirectory() as tmp:
        mine, theirs = Path(tmp) / "current", Path(tmp) / "baseline"
        for root, checkout in ((mine, REPO), (theirs, args.baseline)):
            ten_stage_project(root)
            once(checkout, root, "--executor", "local")  # fills the cache
            once(checkout, root)
        for _ in range(args.repeat):
            times["baseline_default_s"].append(once(args.baseline, theirs))
            times["default_s"].append(once(REPO, mine))
            times["local_s"].append(once(REPO, mine, "--executor", "local"))
    result: dict[str, object] = {k: round(statistics.median(v), 4) for k, v in times.items()}
    result.update(
        repeat=args.repeat,
        load_average=[round(x, 2) for x in os.getloadavg()],
        cpus=os.cpu_count(),
        stages=10,
    )
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
