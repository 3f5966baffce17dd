"""Build throw-away lockgate projects for tests, and run the real CLI on them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = REPO_ROOT / "pipelines" / "quickstart"


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def write_project(root: Path, spec: str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "lockgate.yaml").write_text(textwrap.dedent(spec))
    for name, text in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def lockgate(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> CliResult:
    """The real CLI in a child process, as a user would run it."""
    # The test environment's interpreter first on PATH: stages under the local executor run
    # `python3` from PATH and must find the packages this environment installed, not whatever
    # the host's system Python happens to hold.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    full_env = {
        **os.environ,
        "PATH": path,
        "PYTHONPATH": str(REPO_ROOT),
        "NO_COLOR": "1",
        **(env or {}),
    }
    done = subprocess.run(
        [sys.executable, "-m", "lockgate", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def last_record(project: Path) -> dict:
    records = [
        json.loads(p.read_text()) for p in (project / ".lockgate" / "runs").glob("*/run.json")
    ]
    return max(records, key=lambda r: r["started"])


def states(record: dict) -> dict[str, str]:
    return {s["name"]: s["state"] for s in record["stages"]}
