"""Run one ingest stage in a child process and read its peak resident memory.

The child reports its own high-water mark, ``VmHWM`` from ``/proc/self/status``, as the stage
returns. That counts only the memory of the new program: a child's ``ru_maxrss`` (from
``getrusage`` or ``wait4``) would also count the test process it was forked from, which holds
the test's own frames, because Linux carries the largest resident set across ``exec``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lockgate.stages.context import StageContext

REPO = Path(__file__).resolve().parents[3]

_CHILD = """
import json, sys
from pathlib import Path
from lockgate.stages.context import StageContext
from lockgate.stages.ingest import main
fields = json.loads(sys.argv[1])
paths = {k: Path(v) for k, v in fields.items() if k in ("workspace", "inputs", "out", "secrets_dir", "state")}
code = main(StageContext(**{**fields, **paths}))
hwm = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")]
Path(sys.argv[2]).write_text(hwm[0])
sys.exit(code)
"""


@dataclass(frozen=True)
class Measured:
    code: int
    peak_mib: float
    stderr: str


def run_measured(ctx: StageContext) -> Measured:
    """Run the stage of ``ctx`` in a fresh interpreter; its exit code and peak RSS."""
    fields = {
        "workspace": str(ctx.workspace),
        "inputs": str(ctx.inputs),
        "out": str(ctx.out),
        "secrets_dir": str(ctx.secrets_dir),
        "state": str(ctx.state),
        "run_id": ctx.run_id,
        "stage": ctx.stage,
        "git_sha": ctx.git_sha,
        "with_": ctx.with_,
    }
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    report = Path(ctx.out).parent / f"peak-{ctx.run_id}.kib"
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(fields), str(report)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    peak = int(report.read_text()) / 1024 if report.exists() else float("nan")
    return Measured(done.returncode, peak, done.stderr)
