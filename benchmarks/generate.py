"""`lockgate generate all` for a 20-stage spec: target <= 0.5 s.

Measures, on one machine in one process tree:
- warm: `render_files(provider="all")` plus writing, in-process, median of 20 runs;
- cold: `python -m lockgate generate all` as a user runs it (interpreter start and imports);
- for scale, the validators a CI already runs on the same files (check-jsonschema, actionlint).

Usage: python benchmarks/generate.py [--markdown]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def spec_text(stages: int = 20) -> str:
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


def warm(root: Path, runs: int = 20) -> float:
    from lockgate.generator.render import render_files

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for rendered in render_files(provider="all", spec=root / "lockgate.yaml", root=root):
            path = root / rendered.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rendered.text)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed(argv: list[str], cwd: Path, runs: int = 5) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "lockgate.yaml").write_text(spec_text())
        warm_s = warm(root)
        cold_s = timed([sys.executable, "-m", "lockgate", "generate", "all"], root)
        rows = [
            ("generate all, in-process (median of 20)", warm_s),
            ("generate all, `python -m lockgate generate all` (median of 5)", cold_s),
        ]
        if shutil.which("check-jsonschema"):
            rows.append(
                (
                    "check-jsonschema github-workflows on the result",
                    timed(
                        [
                            "check-jsonschema",
                            "--builtin-schema",
                            "vendor.github-workflows",
                            ".github/workflows/lockgate.yml",
                        ],
                        root,
                        runs=3,
                    ),
                )
            )
        if shutil.which("actionlint"):
            rows.append(
                (
                    "actionlint on the result",
                    timed(
                        ["actionlint", "-ignore", "label", ".github/workflows/lockgate.yml"],
                        root,
                        runs=3,
                    ),
                )
            )
    print(f"| measurement (20-stage spec, {os.cpu_count()} cores) | seconds | vs 0.5 s target |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} | {seconds / 0.5:.2f}x |")
    return 0 if cold_s <= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
