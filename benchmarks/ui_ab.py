"""The release page before and after the incremental audit and fold, in alternating runs.

    python -m benchmarks.ui_ab --baseline CHECKOUT [--rounds 3] [--entries 10000] [--requests 21]

``CHECKOUT`` is lockgate as it was before the page audited only what was appended and folded the
ledger once (the parent of that change: ``git worktree add ../ui-before 833b190^``). Each round
runs ``benchmarks/ui.py`` once with the earlier checkout's code and its own script, then once with
this checkout's, each as a process of its own with only that checkout on ``PYTHONPATH``; the
rounds alternate so machine load hits both alike. Every run's medians, p95 and first request are
kept; the table shows the median of the runs' median requests. The earlier checkout's script
rewrites that checkout's own benchmarks/results/ui.json (use a worktree made for this); this
checkout's run writes to a temporary folder. Writes benchmarks/results/ui-ab.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from benchmarks import result_file  # noqa: E402

SIDES = ("with_audit", "without_audit")
KEPT = ("median_ms", "p95_ms", "max_ms")


def ui_run(code: Path, entries: int, requests: int, out: Path) -> dict[str, Any]:
    """One ``benchmarks/ui.py`` run with ``code``'s lockgate and script: its result document.

    Both the earlier script and this one print their document as JSON on stdout."""
    done = subprocess.run(
        [
            sys.executable,
            str(code / "benchmarks" / "ui.py"),
            f"--entries={entries}",
            f"--requests={requests}",
        ],
        cwd=code,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(code), "LOCKGATE_BENCH_RESULTS": str(out)},
    )
    return dict(json.loads(done.stdout[done.stdout.index("{") :]))


def kept(code: str, number: int, doc: dict[str, Any]) -> dict[str, Any]:
    """What a run contributes to the result file: the page times, not its machine block."""
    return {
        "code": code,
        "round": number,
        "load_avg_1m": round(doc["load_avg_1m"], 2),
        "first_request_ms": doc["first_request_ms"],
        **{side: {key: doc[side][key] for key in KEPT} for side in SIDES},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the checkout before")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=21)
    args = parser.parse_args(argv)
    codes = {"before": args.baseline.resolve(), "after": HERE}
    before_load = result_file.load()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as out:

        def side(code: str) -> Any:
            def run() -> float:
                doc = ui_run(codes[code], args.entries, args.requests, Path(out))
                runs.append(kept(code, sum(r["code"] == code for r in runs) + 1, doc))
                return 0.0

            return run

        # no warm-up round: every run is a fresh process that builds its own ledger
        result_file.alternate({code: side(code) for code in codes}, repeat=args.rounds, warmup=0)
    payload = {
        "how": (
            f"python benchmarks/ui.py, run alternately on the code before the change and after "
            f"it, {args.rounds} round{'s' if args.rounds != 1 else ''}; each run: "
            f"{args.entries:,} entries, {args.requests} requests, one entry appended per request"
        ),
        "entries": args.entries,
        "requests": args.requests,
        "cpus": os.cpu_count(),
        "baseline": result_file.baseline_name(codes["before"]),
        "baseline_commit": result_file.revision(codes["before"]),
        "runs": runs,
        "median_of_medians_ms": {
            code: {
                side: round(
                    statistics.median(r[side]["median_ms"] for r in runs if r["code"] == code), 1
                )
                for side in SIDES
            }
            for code in codes
        },
        "load_average_before": before_load,
        "load_average_after": result_file.load(),
    }
    print(result_file.write("ui-ab", payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
