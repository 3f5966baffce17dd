"""Run a stage as a process in the current environment.

For CI jobs that already run inside the runner image (no nested containers) and for fast tests.
The contract's paths are real folders of the run; nothing is isolated, so the stage could write
outside ``LOCKGATE_OUT`` — the other executors prevent that, this one trusts the stage. Its
environment is still only what it declares plus the documented base (:mod:`engine.stage_env`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import lockgate
from lockgate.engine.executor import ExecOutcome, OutputSink
from lockgate.engine.stage_env import SIGNING_STAGE, base_env
from lockgate.engine.stagespec import StagePaths, StageSpec, contract_env
from lockgate.executors.local_requirements import check_requirements

_KILL_GRACE_S = 5.0


class LocalExecutor:
    name: ClassVar[str] = "local"

    def __init__(self, project: Path | None = None, *, pipeline: str = "") -> None:
        self.project = project

    def check(self) -> None:
        return None

    def run(
        self,
        spec: StageSpec,
        paths: StagePaths,
        *,
        run_id: str,
        git_sha: str,
        secrets: Mapping[str, str],
        output: OutputSink,
        cancel: threading.Event,
    ) -> ExecOutcome:
        env = base_env(
            os.environ, in_container=False, engine=spec.engine, signs=spec.uses == SIGNING_STAGE
        )
        env.update(
            contract_env(spec, run_id=run_id, git_sha=git_sha, paths=paths, in_container=False)
        )
        env["PYTHONUNBUFFERED"] = "1"
        check_requirements(spec.name, spec.image.requirements, spec.argv, env.get("PATH", ""))
        argv = list(spec.argv)
        if argv[0] == "lockgate":  # built-in stages: the very lockgate that runs the pipeline
            argv[:1] = [sys.executable, "-m", "lockgate"]
            root = str(Path(lockgate.__file__).resolve().parent.parent)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        try:
            proc = subprocess.Popen(
                argv,
                cwd=paths.workspace,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # so Ctrl-C/timeout reach the whole process group
            )
        except FileNotFoundError:
            output(f"lockgate: command not found: {spec.argv[0]}")
            return ExecOutcome(exit_code=127)
        except PermissionError:
            output(f"lockgate: not executable: {spec.argv[0]}")
            return ExecOutcome(exit_code=126)
        reader = threading.Thread(target=_pump, args=(proc, output), daemon=True)
        reader.start()
        deadline = time.monotonic() + spec.timeout if spec.timeout else None
        timed_out = interrupted = False
        # A thread blocks in wait() so the run goes on the moment the stage exits; this one
        # checks for a cancel or the timeout every 50 ms meanwhile.
        exited = threading.Event()
        threading.Thread(target=_wait, args=(proc, exited), daemon=True).start()
        while not exited.wait(0.05):
            if cancel.is_set():
                interrupted = True
                break
            if deadline is not None and time.monotonic() > deadline:
                timed_out = True
                break
        if timed_out or interrupted:
            _stop(proc)
        reader.join(timeout=_KILL_GRACE_S)
        code = proc.wait()
        if proc.stdout is not None and not reader.is_alive():
            proc.stdout.close()  # the pipe's file would otherwise stay open until collected
        return ExecOutcome(exit_code=code, timed_out=timed_out, interrupted=interrupted)


def _wait(proc: subprocess.Popen[bytes], exited: threading.Event) -> None:
    proc.wait()
    exited.set()


def _pump(proc: subprocess.Popen[bytes], output: OutputSink) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        output(raw.decode("utf-8", "replace").rstrip("\n"))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL after a grace period."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=_KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
