"""`lockgate generate all` for a 20-stage spec: target <= 0.5 s.

Measures, on one machine in one process tree:
- in process: `render_files(provider="all")` plus writing the files, after one warm-up;
- the command: `python -m lockgate generate all` as a user runs it (interpreter start and
  imports), beside a bare interpreter start and one that only imports the spec models, so the
  command's time can be told apart;
- for scale, the validators a CI already runs on the same files (check-jsonschema, actionlint),
  when installed.

The commands run in alternating rounds after one warm-up (``result_file.alternate``). The result
goes to ``benchmarks/results/generate.json``; docs/benchmarks/generate.md is generated from it
(``benchmarks/engine_tables.py``).

    python -m benchmarks.generate [--repeat 5] [--in-process-runs 20]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import result_file  # noqa: E402  # after the path
from benchmarks.engine import process, timings  # noqa: E402

TARGET_S = 0.5
STAGES = 20
WORKFLOW = ".github/workflows/lockgate.yml"


def spec_text(stages: int = STAGES) -> str:
    """prepare -> 16 parallel feature/train stages in 4 groups -> evaluate -> two gated deploys."""
    lines = [
        "version: 1",
        "name: bench",
        "registry: registry.example.com/ml",
        "image: {base: lockgate/debian:bookworm}",
        "groups: {release: [rita, sam]}",
        "environments:",
        "  - {name: staging}",
        "  - {name: production, approvers: ['@release'], required_approvals: 1}",
        "triggers: {schedule: [{cron: '0 3 * * 1'}], data_update: {event: data-update}}",
        "stages:",
        "  prepare: {run: [python, prepare.py], inputs: [data/*.csv]}",
    ]
    middle = stages - 4
    for i in range(middle):
        needs = "prepare" if i < 4 else f"s{i - 4:02d}"
        gpu = ", gpu: 1" if i % 5 == 0 else ""
        lines.append(f"  s{i:02d}: {{run: [python, s{i:02d}.py], needs: [{needs}]{gpu}}}")
    last = ", ".join(f"s{i:02d}" for i in range(middle - 4, middle))
    lines += [
        f"  evaluate: {{run: [python, evaluate.py], needs: [{last}]}}",
        "  staging: {run: [python, deploy.py], needs: [evaluate], environment: staging}",
        "  production: {run: [python, deploy.py], needs: [staging], environment: production}",
    ]
    return "\n".join(lines) + "\n"


def generate_once(root: Path) -> None:
    """What `lockgate generate all` does after its imports: render every provider's files and
    write them."""
    from lockgate.generator.render import render_files

    for rendered in render_files(provider="all", spec=root / "lockgate.yaml", root=root):
        path = root / rendered.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered.text)


def tool(name: str) -> str | None:
    """A validator on PATH or installed beside this interpreter (a virtual environment's bin)."""
    beside = Path(sys.executable).parent / name
    return shutil.which(name) or (str(beside) if beside.is_file() else None)


def tool_version(argv: list[str]) -> str:
    """The version a validator reports: the last word of its first line."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0].split()[-1] if first else "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="alternating rounds of the commands")
    parser.add_argument("--in-process-runs", type=int, default=20, help="in-process runs")
    args = parser.parse_args()
    before = result_file.load()
    bytecode = result_file.compile_lockgate()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "lockgate.yaml").write_text(spec_text())
        warm = result_file.alternate(
            {"in_process": result_file.stopwatch(lambda: generate_once(root))},
            repeat=args.in_process_runs,
        )["in_process"]
        sides = {
            "command": process([py, "-m", "lockgate", "generate", "all"], root),
            "python": process([py, "-c", "pass"], root),
            "import_spec": process([py, "-c", "import lockgate.spec.models"], root),
        }
        versions = {}
        found = tool("check-jsonschema")
        if found:
            argv = [found, "--builtin-schema", "vendor.github-workflows", WORKFLOW]
            sides["check_jsonschema"] = process(argv, root)
            versions["check-jsonschema"] = tool_version([found, "--version"])
        found = tool("actionlint")
        if found:
            sides["actionlint"] = process([found, "-ignore", "label", WORKFLOW], root)
            versions["actionlint"] = tool_version([found, "-version"])
        raw = result_file.alternate(sides, repeat=args.repeat)
    payload = {
        "stages": STAGES,
        "target_s": TARGET_S,
        "bytecode": bytecode,
        "in_process_runs": args.in_process_runs,
        "in_process": timings(warm),
        "repeat": args.repeat,
        "sides": {name: timings(values) for name, values in raw.items()},
        "tools": versions,
        "load_average_before": before,
        "load_average_after": result_file.load(),
    }
    path = result_file.write("generate", payload, packages=("ruamel.yaml", "pydantic"))
    from benchmarks import engine_tables

    print(engine_tables.generate(json.loads(path.read_text())))
    print(f"wrote {path}")
    return 0 if payload["sides"]["command"]["median"] <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
