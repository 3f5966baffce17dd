"""`lockgate run` of one data-check stage against a plain Polars script doing the same checks.

Both sides are whole processes started the same way (``python -m lockgate run ...`` and
``python script.py``), timed wall-clock from start to exit, with the peak RSS of the process
tree (``wait4``'s ``ru_maxrss``: the largest of the process and the children it waited for).
The data: ``--rows`` rows x 6 columns of Parquet (id, two floats, two five-level strings, a
timestamp). The checks, on both sides: id not null and unique, f1 and f2 within ranges, c0 and
c1 in allowed sets, a row-count floor, freshness of ts; no drift. The script does them in one
``select`` with Polars' streaming engine, as a user would by hand. Besides wall time, the CPU
seconds of the process tree (user + system, from the same ``wait4``): on a shared machine the
wall time stretches a side's fixed CPU cost by the load, its CPU time much less. Two more
processes show where lockgate's extra time goes: the stage process alone (``lockgate stage
data-check`` with the variables the engine gives it), and an interpreter that only imports
Polars. lockgate's modules are compiled to bytecode first, as an installed lockgate has them.
One warm-up of each side, then ``--repeat`` rotating rounds (each starts one side later).

    python -m benchmarks.data_check.command --rows 10000000 --repeat 7

Writes benchmarks/results/data-check-command.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import result_file

REPO = Path(__file__).resolve().parents[2]
LEVELS = ["a", "b", "c", "d", "e"]

SPEC = """\
version: 1
name: bench
image: {base: lockgate/debian:bookworm}
stages:
  data-check:
    uses: lockgate/data-check
    with:
      data: data.parquet
      rows: {min: 1000}
      freshness: {column: ts, max_age: 3650d}
      columns:
        id: {nullable: false, unique: true}
        f1: {min: -50, max: 50}
        f2: {min: -50, max: 50}
        c0: {allowed: [a, b, c, d, e]}
        c1: {allowed: [a, b, c, d, e]}
"""

SCRIPT = """\
import datetime, json, sys
import polars as pl

c = pl.col
levels = ["a", "b", "c", "d", "e"]
row = pl.scan_parquet("data.parquet").select(
    c("id").null_count().alias("id_nulls"),
    (pl.len() - c("id").n_unique()).alias("id_dups"),
    c("f1").min().alias("f1_min"), c("f1").max().alias("f1_max"),
    c("f2").min().alias("f2_min"), c("f2").max().alias("f2_max"),
    (~c("c0").is_in(levels)).sum().alias("c0_bad"),
    (~c("c1").is_in(levels)).sum().alias("c1_bad"),
    pl.len().alias("rows"),
    c("ts").max().alias("ts_max"),
).collect(engine="streaming").row(0, named=True)
age = datetime.datetime.now() - row["ts_max"]
ok = (
    row["id_nulls"] == 0 and row["id_dups"] == 0
    and -50 <= row["f1_min"] and row["f1_max"] <= 50
    and -50 <= row["f2_min"] and row["f2_max"] <= 50
    and row["c0_bad"] == 0 and row["c1_bad"] == 0
    and row["rows"] >= 1000 and age <= datetime.timedelta(days=3650)
)
print(json.dumps({"passed": ok}))
sys.exit(0 if ok else 1)
"""


def generate(path: Path, rows: int) -> None:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(7)
    parts = []
    step = 2_000_000
    now = np.datetime64("2026-01-01T00:00:00", "us")
    for start in range(0, rows, step):
        n = min(step, rows - start)
        part = path.parent / f".part-{start}.parquet"
        pl.DataFrame(
            {
                "id": np.arange(start, start + n, dtype="int64"),
                "f1": rng.normal(0, 1, n),
                "f2": rng.normal(3, 2, n),
                "c0": rng.choice(LEVELS, n),
                "c1": rng.choice(LEVELS, n),
                "ts": now - rng.integers(0, 86_400_000_000, n).astype("timedelta64[us]"),
            }
        ).write_parquet(part)
        parts.append(part)
    pl.scan_parquet([str(p) for p in parts]).sink_parquet(path)
    for part in parts:
        part.unlink()


def process(argv: list[str], cwd: Path, env: dict[str, str]) -> Callable[[], dict[str, float]]:
    """One side: run ``argv`` to completion; wall seconds, the tree's CPU seconds and peak RSS
    in MiB."""

    def run() -> dict[str, float]:
        start = time.perf_counter()
        child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"{argv} exited {child.returncode}")
        return {
            "seconds": wall,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024,
        }

    return run


def stage_env(root: Path, env: dict[str, str]) -> dict[str, str]:
    """The contract variables the engine gives the data-check stage process, for running that
    process alone (``lockgate stage data-check``): where lockgate's own time goes."""
    import yaml

    from lockgate.stages.context import StageContext

    folders = {name: root / f".stage-{name}" for name in ("in", "out", "state", "secrets")}
    for folder in folders.values():
        folder.mkdir(exist_ok=True)
    ctx = StageContext(
        workspace=root,
        inputs=folders["in"],
        out=folders["out"],
        secrets_dir=folders["secrets"],
        state=folders["state"],
        run_id="bench",
        stage="data-check",
        git_sha="",
        with_=yaml.safe_load(SPEC)["stages"]["data-check"]["with"],
    )
    return {**env, **ctx.env()}


def measure(root: Path, repeat: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    sides = {
        "lockgate": process(
            [sys.executable, "-m", "lockgate", "run", "--executor", "local", "--no-cache"],
            root,
            env,
        ),
        "polars_script": process([sys.executable, "script.py"], root, env),
        # where the difference goes: the stage process the engine starts, run alone, and an
        # interpreter that only imports Polars (what both sides pay before any work)
        "stage_process": process(
            [sys.executable, "-m", "lockgate", "stage", "data-check"], root, stage_env(root, env)
        ),
        "import_polars": process([sys.executable, "-c", "import polars"], root, env),
    }
    raw: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for run in sides.values():
        run()  # warm-up: page cache, bytecode
    names = list(sides)
    for r in range(repeat):  # rotating: no side always runs first or after the same other side
        for name in names[r % len(names) :] + names[: r % len(names)]:
            raw[name].append(sides[name]())
    summary: dict[str, Any] = {}
    for name, runs in raw.items():
        summary[name] = {
            "seconds_median": result_file.median([r["seconds"] for r in runs]),
            "cpu_seconds_median": result_file.median([r["cpu_seconds"] for r in runs]),
            "peak_rss_mib_median": result_file.median([r["peak_rss_mib"] for r in runs]),
            "raw": runs,
        }
    for key in ("seconds", "cpu_seconds", "peak_rss_mib"):
        ratio = summary["lockgate"][f"{key}_median"] / summary["polars_script"][f"{key}_median"]
        summary[f"ratio_{key}"] = round(ratio, 3)
    summary["rotated"] = True
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lockgate-bench-") as tmp:
        root = Path(tmp)
        generate(root / "data.parquet", args.rows)
        (root / "lockgate.yaml").write_text(SPEC)
        (root / "script.py").write_text(textwrap.dedent(SCRIPT))
        bytecode = result_file.compile_lockgate()
        load_before = result_file.load()
        summary = measure(root, args.repeat)
        from lockgate.commands.stage import QUICK_EXIT

        payload = {
            "rows": args.rows,
            # whether the stage process ends without the interpreter's teardown
            "stage_quick_exit": "data-check" in QUICK_EXIT,
            "bytecode": bytecode,
            "columns": 6,
            "file_mib": round((root / "data.parquet").stat().st_size / 2**20, 1),
            "repeat": args.repeat,
            "load_average_before": load_before,
            "load_average_after": result_file.load(),
            **summary,
        }
    path = result_file.write("data-check-command", payload, packages=("polars", "numpy"))
    print(path.read_text())


if __name__ == "__main__":
    main()
