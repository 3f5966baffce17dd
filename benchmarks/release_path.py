"""How long the whole release path takes: pipelines/release/release.py once, as scripts/quickstart
runs it after setup, with every step's duration and the machine's load before and after.

    python -m benchmarks.release_path [--executor docker|local]
    python -m benchmarks.release_path --from OUTCOME.json   # a run's --json, recorded as is

Writes benchmarks/results/release-path.json. The run uses its own state folder, a free registry
port and its own environment names, and removes its containers and registry afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import result_file

RELEASE = Path(__file__).resolve().parents[1] / "pipelines" / "release" / "release.py"


def run_once(executor: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lockgate-release-bench-") as tmp:
        state, outcome = Path(tmp) / "state", Path(tmp) / "outcome.json"
        common = [sys.executable, str(RELEASE), "--state", str(state), "--env-suffix=-bench"]
        try:
            subprocess.run(
                [*common, "--free-port", "--executor", executor, "--json", str(outcome)],
                check=True,
            )
            return dict(json.loads(outcome.read_text()))
        finally:
            subprocess.run([*common, "--down"], check=False)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executor", default="docker", choices=("docker", "local"))
    parser.add_argument("--from", dest="source", type=Path, help="record this outcome file")
    args = parser.parse_args(argv)
    outcome = json.loads(args.source.read_text()) if args.source else run_once(args.executor)
    kept = ("seconds", "executor", "load_average_at_start", "load_average_at_end", "steps")
    payload = {key: outcome[key] for key in kept if key in outcome}
    payload["candidates"] = [
        {"title": c["title"], "model": c["model"]} for c in outcome.get("candidates", [])
    ]
    print(result_file.write("release-path", payload, packages=("mlflow", "torch", "docker")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
