"""Engine benchmarks: no-op re-run against DVC, CLI start-up, planning a 1,000-stage DAG, and
the docker executor's per-stage overhead against plain `docker run`.

    python -m benchmarks.engine [--dvc PATH/TO/dvc] [--repeat 10] [--docker]

Everything runs in this one process tree on this machine. The sides of each comparison run in
alternating rounds after one warm-up (``result_file.alternate``), so machine load hits them alike.
The result goes to ``benchmarks/results/engine.json`` (every raw timing, the medians, the sizes,
the DVC and Docker versions, the load average before and after); the table in
docs/benchmarks/README.md is generated from it (``benchmarks/engine_tables.py``). DVC is what
users reach for to get cache-aware pipeline runs; the equivalent dvc.yaml has the same stages,
commands, dependencies and outputs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import result_file  # noqa: E402  # after the path

ENV = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
# DVC sends usage analytics from a background process unless told not to: not part of a re-run
DVC_ENV = {**ENV, "DVC_NO_ANALYTICS": "1"}
LOCKGATE = [sys.executable, "-m", "lockgate"]
STAGES = 10
DAG_STAGES = 1000


def process(cmd: list[str], cwd: Path, env: dict[str, str] = ENV) -> Callable[[], float]:
    """A side for ``result_file.alternate`` that times one whole process, interpreter included."""

    def run() -> float:
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
        return time.perf_counter() - start

    return run


def timings(raw: list[float]) -> dict[str, Any]:
    """How a result file holds one side: every timing (0.1 ms resolution) and their median."""
    return {"raw": [round(x, 4) for x in raw], "median": result_file.median(raw)}


def ten_stage_project(root: Path) -> None:
    """A chain of ten `cat` stages, written both as lockgate.yaml and as the same dvc.yaml."""
    (root / "data").mkdir(parents=True)
    (root / "data" / "input.txt").write_text("seed\n" * 1000)
    lines = ["version: 1", "name: ten", "image: {base: lockgate/debian:bookworm}", "stages:"]
    dvc = ["stages:"]
    for i in range(STAGES):
        prev = f"s{i - 1}"
        src = "data/input.txt" if i == 0 else f"$LOCKGATE_IN/{prev}/o.txt"
        needs = f", needs: [{prev}]" if i else ""
        lines.append(
            f"  s{i}: {{run: [sh, -c, 'cat {src} > $LOCKGATE_OUT/o.txt'], "
            f"inputs: ['data/*.txt']{needs}}}"
        )
        dsrc = "data/input.txt" if i == 0 else f"out/{prev}.txt"
        dvc += [
            f"  s{i}:",
            f"    cmd: mkdir -p out && cat {dsrc} > out/s{i}.txt",
            f"    deps: [{dsrc}]",
            f"    outs: [out/s{i}.txt]",
        ]
    (root / "lockgate.yaml").write_text("\n".join(lines) + "\n")
    (root / "dvc.yaml").write_text("\n".join(dvc) + "\n")


def newest_record(root: Path) -> dict[str, Any]:
    """The run record lockgate wrote last (run ids sort by start time)."""
    record: dict[str, Any] = json.loads(
        sorted((root / ".lockgate" / "runs").glob("*/run.json"))[-1].read_text()
    )
    return record


def dvc_project(root: Path, dvc: str) -> dict[str, str]:
    """Make ``root`` a git + DVC project whose ten stages have run once; DVC's version."""
    ten_stage_project(root)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([dvc, "init", "-q"], cwd=root, env=DVC_ENV, check=True)
    subprocess.run([dvc, "config", "core.analytics", "false"], cwd=root, env=DVC_ENV, check=True)
    subprocess.run([dvc, "repro", "-q"], cwd=root, env=DVC_ENV, check=True, capture_output=True)
    done = subprocess.run(
        [dvc, "--version"], env=DVC_ENV, check=True, capture_output=True, text=True
    )
    return {"version": done.stdout.strip(), "command": "dvc repro -q", "analytics": "off"}


def bench_noop(repeat: int, dvc: str | None, root: Path) -> dict[str, Any]:
    """The fully cached 10-stage re-run, `dvc repro` on the same chain, a bare interpreter start
    and `lockgate --help`, all in one rotation; each tool in a project folder of its own."""
    mine = root / "lockgate"
    ten_stage_project(mine)
    run = [*LOCKGATE, "run", "--executor", "local"]
    subprocess.run(run, cwd=mine, env=ENV, check=True, capture_output=True)  # fills the cache
    runner: list[float] = []
    rerun = process(run, mine)

    def lockgate() -> float:
        seconds = rerun()
        record = newest_record(mine)
        runner.append(record["finished"] - record["started"])
        return seconds

    sides = {
        "python": process([sys.executable, "-c", "pass"], mine),
        "lockgate": lockgate,
        "help": process([*LOCKGATE, "--help"], REPO),
    }
    found: dict[str, Any] = {"stages": STAGES, "dvc": None, "dvc_tool": None}
    if dvc:
        found["dvc_tool"] = dvc_project(root / "dvc", dvc)
        sides["dvc"] = process([dvc, "repro", "-q"], root / "dvc", DVC_ENV)
    raw = result_file.alternate(sides, repeat=repeat)
    found.update({name: timings(values) for name, values in raw.items()})
    found["runner"] = timings(runner[-repeat:])  # the warm-up's record left out
    return found


def dag_spec(stages: int) -> str:
    """A 1,000-stage DAG: each stage needs its predecessor, its half and the stage 7 back."""
    lines = ["version: 1", "name: big", "image: {base: lockgate/debian:bookworm}", "stages:"]
    for i in range(stages):
        needs = sorted({f"s{j}" for j in (i - 1, i // 2, i - 7) if 0 <= j < i})
        lines.append(f"  s{i}: {{run: [sh, -c, 'echo {i}'], needs: [{', '.join(needs)}]}}")
    return "\n".join(lines) + "\n"


def bench_plan(repeat: int, root: Path) -> dict[str, Any]:
    """Planning the DAG in process, and `lockgate plan` with the spec changed (parse + validate +
    plan) and unchanged (the compiled plan reused), in one rotation."""
    from lockgate.engine.digests import FileDigests
    from lockgate.engine.plan import build_plan
    from lockgate.spec.loader import parse_spec

    text = dag_spec(DAG_STAGES)
    spec = root / "lockgate.yaml"
    spec.write_text(text)
    plan = [*LOCKGATE, "plan", "--json"]
    edits = itertools.count()
    again = process(plan, root)

    def changed() -> float:
        spec.write_text(f"{text}# edit {next(edits)}\n")  # new bytes: the cached plan is stale
        return again()

    sides = {
        "in_process": result_file.stopwatch(
            lambda: build_plan(parse_spec(text, "lockgate.yaml"), root, FileDigests(None))
        ),
        "cli_changed": changed,
        "cli_unchanged": again,
    }
    raw = result_file.alternate(sides, repeat=repeat)
    return {"stages": DAG_STAGES, **{name: timings(values) for name, values in raw.items()}}


def docker_version() -> str:
    done = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def bench_docker(repeat: int, root: Path) -> dict[str, Any]:
    """One `true` stage through the docker executor (the stage's duration from its run record)
    against `docker run --rm` of the same image, alternating; the whole command recorded too."""
    (root / "lockgate.yaml").write_text(
        "version: 1\nname: overhead\nimage: {base: lockgate/debian:bookworm}\n"
        "stages:\n  noop: {run: ['true']}\n"
    )
    run = [*LOCKGATE, "run", "--executor", "docker", "--no-cache"]
    subprocess.run(run, cwd=root, env=ENV, check=True, capture_output=True)  # builds the image
    image = newest_record(root)["stages"][0]["image_id"]
    command = process(run, root)
    commands: list[float] = []

    def lockgate() -> float:
        commands.append(command())
        return float(newest_record(root)["stages"][0]["duration"])

    sides = {
        "lockgate_stage": lockgate,
        "docker_run": process(["docker", "run", "--rm", image, "true"], root),
    }
    raw = result_file.alternate(sides, repeat=repeat)
    return {
        "docker": docker_version(),
        **{name: timings(values) for name, values in raw.items()},
        "lockgate_command": timings(commands[-repeat:]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dvc", default=shutil.which("dvc"), help="dvc executable to compare")
    parser.add_argument("--repeat", type=int, default=10, help="alternating rounds")
    parser.add_argument("--docker", action="store_true", help="also measure the docker executor")
    args = parser.parse_args()
    before = result_file.load()
    bytecode = result_file.compile_lockgate()
    with tempfile.TemporaryDirectory() as tmp:
        folders = [Path(tmp) / name for name in ("noop", "plan", "docker")]
        for folder in folders:
            folder.mkdir()
        noop = bench_noop(args.repeat, args.dvc, folders[0])
        plan = bench_plan(args.repeat, folders[1])
        docker = bench_docker(args.repeat, folders[2]) if args.docker else None
    payload = {
        "repeat": args.repeat,
        "warmup": 1,
        "bytecode": bytecode,
        "noop": noop,
        "plan": plan,
        "docker": docker,
        "load_average_before": before,
        "load_average_after": result_file.load(),
    }
    path = result_file.write("engine", payload, packages=("pydantic", "PyYAML"))
    from benchmarks import engine_tables

    print(engine_tables.engine(json.loads(path.read_text())))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
