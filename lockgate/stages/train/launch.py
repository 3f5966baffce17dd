"""Multi-GPU: re-launch the stage under ``torchrun`` and set up DDP inside each worker.

A worker that stops on an error the user can fix (a :class:`LockgateError`) writes it to a file
in a folder the launching process names (``LOCKGATE_WORKER_ERRORS``) and exits with the error's
exit code; the launching process then raises the first such error, so the stage says it once, in
one line, as one process would, and torchrun's own failure report is held back. Any other
failure (a killed worker, a bug with its traceback) keeps torchrun's report and ends with one
line about the checkpoints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.errors import LockgateError, clipped

ERRORS_ENV = "LOCKGATE_WORKER_ERRORS"


class WorkerError(LockgateError):
    """A torchrun worker stopped on an error the user can fix; the message is the worker's."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class DistributedRole:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DistributedRole:
        env = os.environ if env is None else env
        return cls(
            int(env.get("RANK", "0")),
            int(env.get("LOCAL_RANK", "0")),
            int(env.get("WORLD_SIZE", "1")),
        )


def needs_torchrun(gpus: int, env: Mapping[str, str] | None = None) -> bool:
    """True when more than one GPU is asked for and this process is not already a worker."""
    env = os.environ if env is None else env
    return gpus > 1 and "LOCAL_RANK" not in env


def torchrun_command(gpus: int, python: str | None = None) -> list[str]:
    """One node, ``gpus`` workers, each running this stage's module entry point. The workers
    inherit the LOCKGATE_* environment, so they read the same ``with:`` block."""
    return [
        python or sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={gpus}",
        "-m",
        "lockgate.stages.train",
    ]


def init_distributed(role: DistributedRole, device: Any) -> None:
    import torch.distributed as dist

    if role.world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)


def leave_process_group() -> None:
    """Destroy this worker's process group, if it joined one, while the interpreter is whole:
    left to interpreter shutdown, gloo's threads can release tensors after Python is gone and
    abort a worker whose run succeeded (SIGABRT, "terminate called without an active
    exception")."""
    if "torch" not in sys.modules:
        return
    import gc

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        gc.collect()  # a DDP model no longer reachable still holds the group: free it first
        dist.destroy_process_group()


def wrap_model(model: Any, role: DistributedRole, device: Any) -> Any:
    if role.world_size <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def run_workers(gpus: int) -> int:
    """Run the stage in ``gpus`` torchrun workers and return torchrun's exit code; the first
    worker's user error is raised as a :class:`WorkerError` instead (see the module docstring).
    Workers' output is relayed as it comes, until a worker has recorded such an error."""
    with tempfile.TemporaryDirectory(prefix="lockgate-worker-errors-") as folder:
        errors = Path(folder)
        env = {**os.environ, ERRORS_ENV: folder}
        with subprocess.Popen(
            torchrun_command(gpus), env=env, stderr=subprocess.PIPE, text=True, errors="replace"
        ) as proc:
            try:
                for line in proc.stderr or ():
                    if not any(errors.iterdir()):  # after a user error: torchrun's report, held
                        sys.stderr.write(line)
                        sys.stderr.flush()
                code = proc.wait()
            except BaseException:  # interrupted: stop torchrun, which stops its workers
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                raise
        first = first_worker_error(errors)
    if first is not None:
        raise first
    if code != 0:
        print(
            f"train: one of the {gpus} worker processes failed (torchrun exit code {code}; the "
            "failing rank and its error are above), so the stage stops. Checkpoints written so "
            "far are kept: a rerun resumes from the newest.",
            file=sys.stderr,
        )
    return code


def first_worker_error(folder: Path) -> WorkerError | None:
    """The error the first worker to stop on one recorded in ``folder``, or None."""
    recorded = sorted(folder.glob("rank-*.json"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    if not recorded:
        return None
    saved = json.loads(recorded[0].read_text())
    return WorkerError(str(saved["message"]), int(saved["exit_code"]))


def report_worker_error(exc: LockgateError, env: Mapping[str, str] | None = None) -> int:
    """In a process started by ``python -m lockgate.stages.train``: record ``exc`` for the
    launching process when it named a folder for that, else say it in one line on stderr;
    returns the exit code to stop with."""
    env = os.environ if env is None else env
    message = clipped(str(exc))
    folder = env.get(ERRORS_ENV)
    if not folder:  # one write: workers share stderr, and their lines must not interleave
        sys.stderr.write(f"lockgate: error: {message}\n")
        sys.stderr.flush()
        return exc.exit_code
    record = Path(folder) / f"rank-{env.get('RANK', '0')}.json"
    tmp = record.with_name(f".tmp-{record.name}")  # whole or absent when the parent reads it
    tmp.write_text(json.dumps({"message": message, "exit_code": exc.exit_code}))
    os.replace(tmp, record)
    return exc.exit_code
