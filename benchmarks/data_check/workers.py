"""Benchmark sides in long-lived processes of their own, timed in alternating rounds.

Each side's process imports its libraries and runs once untimed (the warm-up), then runs once
per line it is sent and reports the seconds it measured around its own work; so no side's
imports, threads or allocator state share an interpreter with another side's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks import result_file

ROOT = Path(__file__).resolve().parents[2]

SIDES = {
    # side: (module, function); a side's process imports only its own module
    "lockgate": ("benchmarks.data_check.stage_side", "run_lockgate"),
    "polars": ("benchmarks.data_check.polars_baseline", "run_polars"),
    "pandera": ("benchmarks.data_check.validators", "run_pandera"),
    "gx": ("benchmarks.data_check.validators", "run_gx"),
}

WORKER = """
import importlib, json, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
data, ref, out = Path({data!r}), Path({ref!r}), Path({out!r})
side = getattr(importlib.import_module({module!r}), {function!r})
args = (data, ref, out) if {side!r} == "lockgate" else (data, ref)
for _ in sys.stdin:
    start = time.perf_counter()
    verdict = side(*args)
    seconds = time.perf_counter() - start
    print("RESULT " + json.dumps({{"seconds": seconds, **verdict}}), flush=True)
"""


class Worker:
    """One side in a process of its own, run once per line sent to it: no side's imports,
    threads, allocator state or leftovers share an interpreter with another side's."""

    def __init__(self, side: str, data: Path, ref: Path, out: Path) -> None:
        module, function = SIDES[side]
        code = WORKER.format(
            root=str(ROOT),
            data=str(data),
            ref=str(ref),
            out=str(out),
            side=side,
            module=module,
            function=function,
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.verdict: dict[str, Any] = {}

    def run(self) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith("RESULT "):
                found = json.loads(line[len("RESULT ") :])
                self.verdict = {k: v for k, v in found.items() if k != "seconds"}
                return float(found["seconds"])
        raise SystemExit(f"benchmark worker exited with {self.proc.wait()}")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def compared_apart(
    sides: list[str], data: Path, ref: Path, out: Path, repeat: int
) -> dict[str, dict[str, Any]]:
    """Medians and raw timings of ``sides`` (names in :data:`SIDES`) over the same files, each
    side in its own long-lived process: one warm-up, then ``repeat`` alternating rounds."""
    workers = {name: Worker(name, data, ref, out / name) for name in sides}
    try:
        raw = result_file.alternate({n: w.run for n, w in workers.items()}, repeat=repeat)
    finally:
        for worker in workers.values():
            worker.close()
    return {
        name: {"seconds_median": result_file.median(raw[name]), "raw": raw[name], **w.verdict}
        for name, w in workers.items()
    }
