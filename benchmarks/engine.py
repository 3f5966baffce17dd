"""Engine benchmarks: no-op re-run against DVC, CLI start-up, planning a 1,000-stage DAG, and
the docker executor's per-stage overhead against plain `docker run`.

    python benchmarks/engine.py [--dvc PATH/TO/dvc] [--repeat 10] [--docker]

Everything runs in this one process tree on this machine; the script prints a Markdown table
for docs/benchmarks/README.md. DVC is what users reach for to get cache-aware pipeline runs; the
equivalent dvc.yaml has the same stages, commands, dependencies and outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
LOCKGATE = [sys.executable, "-m", "lockgate"]


def timed(cmd: list[str], cwd: Path, repeat: int, env: dict[str, str] = ENV) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
        out.append(time.perf_counter() - t)
    return out


def ten_stage_project(root: Path) -> None:
    (root / "data").mkdir(parents=True)
    (root / "data" / "input.txt").write_text("seed\n" * 1000)
    lines = ["version: 1", "name: ten", "image: {base: lockgate/debian:bookworm}", "stages:"]
    dvc = ["stages:"]
    for i in range(10):
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


def bench_noop(repeat: int, dvc: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ten_stage_project(root)
        run = [*LOCKGATE, "run", "--executor", "local"]
        subprocess.run(run, cwd=root, env=ENV, check=True, capture_output=True)
        lg = timed(run, root, repeat)
        bare = timed([sys.executable, "-c", "pass"], root, repeat)
        records = sorted((root / ".lockgate" / "runs").glob("*/run.json"))
        inner = [json.loads(p.read_text()) for p in records[-repeat:]]
        engine = statistics.median(r["finished"] - r["started"] for r in inner)
        result = {
            "lockgate_s": statistics.median(lg),
            "python_s": statistics.median(bare),
            "runner_s": engine,
        }
        if dvc:
            subprocess.run(["git", "init", "-q"], cwd=root, check=True)
            subprocess.run([dvc, "init", "-q"], cwd=root, check=True)
            subprocess.run([dvc, "repro", "-q"], cwd=root, check=True, capture_output=True)
            result["dvc_s"] = statistics.median(timed([dvc, "repro", "-q"], root, repeat))
        return result


def bench_help(repeat: int) -> float:
    return statistics.median(timed([*LOCKGATE, "--help"], REPO, repeat))


def bench_plan_1000(repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lines = ["version: 1", "name: big", "image: {base: lockgate/debian:bookworm}", "stages:"]
        for i in range(1000):
            needs = sorted({f"s{j}" for j in (i - 1, i // 2, i - 7) if 0 <= j < i})
            lines.append(f"  s{i}: {{run: [sh, -c, 'echo {i}'], needs: [{', '.join(needs)}]}}")
        (root / "lockgate.yaml").write_text("\n".join(lines) + "\n")
        sys.path.insert(0, str(REPO))
        from lockgate.engine.digests import FileDigests
        from lockgate.engine.plan import build_plan
        from lockgate.spec.loader import parse_spec

        text = (root / "lockgate.yaml").read_text()
        cold = []
        for _ in range(repeat):
            t = time.perf_counter()
            build_plan(parse_spec(text, "lockgate.yaml"), root, FileDigests(None))
            cold.append(time.perf_counter() - t)
        cli = timed([*LOCKGATE, "plan", "--json"], root, 1)  # first: parses and validates
        warm = timed([*LOCKGATE, "plan", "--json"], root, repeat)  # compiled plan reused
        return {
            "in_process_s": statistics.median(cold),
            "cli_first_s": cli[0],
            "cli_again_s": statistics.median(warm),
        }


def bench_docker(repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "lockgate.yaml").write_text(
            "version: 1\nname: overhead\nimage: {base: lockgate/debian:bookworm}\n"
            "stages:\n  noop: {run: ['true']}\n"
        )
        run = [*LOCKGATE, "run", "--executor", "docker", "--no-cache"]
        subprocess.run(run, cwd=root, env=ENV, check=True, capture_output=True)  # builds image
        timed(run, root, repeat)
        stages = [
            json.loads(p.read_text())["stages"][0]
            for p in sorted((root / ".lockgate" / "runs").glob("*/run.json"))[-repeat:]
        ]
        image = stages[-1]["image_id"]
        plain = timed(["docker", "run", "--rm", image, "true"], root, repeat)
        return {
            "lockgate_stage_s": statistics.median(s["duration"] for s in stages),
            "docker_run_s": statistics.median(plain),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dvc", default=shutil.which("dvc"))
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--docker", action="store_true", help="also measure the docker executor")
    args = parser.parse_args()
    noop = bench_noop(args.repeat, args.dvc)
    help_s = bench_help(args.repeat)
    plan = bench_plan_1000(3)
    print("| measurement | lockgate | alternative | ratio / target |")
    print("|---|---|---|---|")
    overhead = noop["lockgate_s"] - noop["python_s"]
    if "dvc_s" in noop:
        ratio = noop["dvc_s"] / noop["lockgate_s"]
        print(
            f"| no-op re-run, 10 cached stages (wall) | {noop['lockgate_s']:.3f} s | "
            f"dvc repro {noop['dvc_s']:.3f} s | {ratio:.1f}× faster (target ≥ 3×) |"
        )
    print(
        f"| … engine overhead (wall − bare `python -c pass` {noop['python_s']:.3f} s) | "
        f"{overhead:.3f} s | | target ≤ 0.3 s |"
    )
    print(f"| … time inside the runner (from run.json) | {noop['runner_s'] * 1000:.1f} ms | | |")
    print(f"| `lockgate --help` | {help_s:.3f} s | | target ≤ 0.2 s |")
    print(
        f"| plan a 1,000-stage DAG: parse + validate + plan, in process | "
        f"{plan['in_process_s']:.3f} s | | target ≤ 1 s |"
    )
    print(
        f"| … `lockgate plan` CLI, first / spec unchanged | {plan['cli_first_s']:.3f} s / "
        f"{plan['cli_again_s']:.3f} s | | |"
    )
    if args.docker:
        d = bench_docker(args.repeat)
        print(
            f"| docker executor, one `true` stage (container create → exit → removed) | "
            f"{d['lockgate_stage_s']:.3f} s | docker run --rm {d['docker_run_s']:.3f} s | "
            f"target ≤ 1 s |"
        )


if __name__ == "__main__":
    main()
