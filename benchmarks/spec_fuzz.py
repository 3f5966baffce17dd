"""``lockgate validate`` on 10,000 seeded mutations of the reference specs and the examples:
how many ended in an internal error or a hang, and the slowest validation (CPU time, which a
shared machine's load does not stretch, and wall clock).

    python -m benchmarks.spec_fuzz [--seed 2026] [--count 10000] [--limit 5]

Each mutant is validated in this process through the CLI's own dispatch (the path `lockgate
validate` takes; tests/spec/mutations.py). The JSON goes to
benchmarks/results/spec_fuzz.json in the shape every benchmark writes (benchmarks/result_file.py),
which docs/spec.md quotes.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import result_file  # noqa: E402  # after the path
from tests.spec.mutations import CORPUS, mutants, validate  # noqa: E402


def run(seed: int, count: int, limit_s: float) -> dict[str, object]:
    kinds: collections.Counter[str] = collections.Counter()
    times: list[float] = []
    cpu_times: list[float] = []
    slowest = (0.0, -1, "", "")
    failures = []
    load_before = os.getloadavg()[0]
    validate(CORPUS[0], limit_s)  # warm up: the first call imports pydantic and the models
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        spec = Path(folder) / "lockgate.yaml"
        for mutant in mutants(seed, count):
            spec.write_text(mutant.text)
            outcome = validate(spec, limit_s)
            kinds[outcome.kind] += 1
            times.append(outcome.seconds)
            cpu_times.append(outcome.cpu_seconds)
            if outcome.cpu_seconds > slowest[0]:
                slowest = (
                    outcome.cpu_seconds,
                    mutant.number,
                    mutant.source,
                    "+".join(mutant.edits),
                )
            if outcome.kind in {"internal", "hang"}:
                last = outcome.detail.strip().splitlines()[-1]
                failures.append({"mutant": mutant.number, "kind": outcome.kind, "error": last})
    times.sort()
    cpu_times.sort()
    return {
        "what": "lockgate validate, in-process, on seeded mutations of the reference specs",
        "seed": seed,
        "mutants": count,
        "corpus_files": len(CORPUS),
        "time_limit_cpu_s": limit_s,
        "internal_errors": kinds["internal"],
        "hangs": kinds["hang"],
        "validated_ok": kinds["ok"],
        "refused_with_a_located_error": kinds["refused"],
        "slowest_validation_cpu_s": round(slowest[0], 4),
        "slowest_mutant": {"number": slowest[1], "source": slowest[2], "edits": slowest[3]},
        "median_validation_cpu_s": round(statistics.median(cpu_times), 4),
        "p99_validation_cpu_s": round(cpu_times[int(len(cpu_times) * 0.99) - 1], 4),
        "slowest_validation_wall_s": round(times[-1], 4),
        "median_validation_wall_s": round(statistics.median(times), 4),
        "total_s": round(time.perf_counter() - start, 1),
        "failures": failures[:20],
        "load_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--limit", type=float, default=5.0, help="CPU seconds per spec")
    args = parser.parse_args()
    result = run(args.seed, args.count, args.limit)
    result_file.write("spec_fuzz", result, packages=("pydantic", "PyYAML"))
    shown = ("internal_errors", "hangs", "slowest_validation_cpu_s", "slowest_validation_wall_s")
    print(json.dumps({k: result[k] for k in shown}))
    return 1 if result["internal_errors"] or result["hangs"] else 0


if __name__ == "__main__":
    sys.exit(main())
