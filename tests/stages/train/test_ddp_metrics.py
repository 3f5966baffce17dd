"""DDP for real, 2 CPU workers under gloo: the per-epoch record covers every rank's samples, and
a worker's user error is one line, as in one process. Slow: each run starts processes that
import torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("numpy")

from lockgate.errors import EXIT_USAGE  # noqa: E402
from lockgate.stages.context import StageContext  # noqa: E402
from lockgate.stages.train.launch import WorkerError, run_workers, torchrun_command  # noqa: E402
from tests.stages.train.test_distributed import REPO, run_stage, workspace  # noqa: E402

N_ROWS = 500  # test_distributed's training rows: even, so two workers drop none

# One process of a DDP group (or a lone process with WORLD=1) running lockgate's loop on fixed
# data; an MLP without dropout, so one process at batch 2B and two at B take the same steps.
WORKER = """
import datetime, json, sys
import torch
import torch.distributed as dist
from torch import nn
from lockgate.stages.train.batches import BatchSource
from lockgate.stages.train.checkpoint import CheckpointStore
from lockgate.stages.train.contract import TrainPlan
from lockgate.stages.train.launch import DistributedRole, leave_process_group, wrap_model
from lockgate.stages.train.loop import LoopSettings, Trainer
from lockgate.stages.train.precision import Precision

rank, world, init, out, batch, ckpt, crash_at = sys.argv[1:]
rank, world, batch, crash_at = int(rank), int(world), int(batch), int(crash_at)
if world > 1:
    dist.init_process_group(
        "gloo", init_method="file://" + init, rank=rank, world_size=world,
        timeout=datetime.timedelta(seconds=60),
    )

class Crash(Exception):
    pass

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
        self.calls = 0
    def forward(self, x):
        self.calls += self.training
        if self.calls == crash_at:  # every rank at the same step, after a checkpoint
            raise Crash
        return self.net(x)

g = torch.Generator().manual_seed(11)
x = torch.randn(N_ROWS, 8, generator=g)
y = (x[:, 0] - x[:, 2] > 0).long()
torch.manual_seed(0)
model = MLP()
cpu = torch.device("cpu")
role = DistributedRole(rank, rank, world)
trainer = Trainer(
    TrainPlan(model=model),
    wrap_model(model, role, cpu),
    BatchSource.build(x, y, batch, cpu, "auto", 3, rank, world),
    None,
    Precision("off", "cpu"),
    CheckpointStore(__import__("pathlib").Path(ckpt)) if ckpt else None,
    LoopSettings(2, 5, None, rank == 0),
    {},
    True,
)
try:
    outcome = trainer.run()
    with open(f"{out}-rank{rank}.json", "w") as fh:
        json.dump({"history": outcome.history, "samples_seen": outcome.samples_seen}, fh)
except Crash:
    sys.exit(17)
finally:
    del trainer, model
    leave_process_group()
""".replace("N_ROWS", str(N_ROWS))


def train(
    tmp_path: Path,
    name: str,
    *,
    world: int,
    batch: int,
    ckpt: Path | None = None,
    crash_at: int = 0,
) -> dict[str, Any] | None:
    """Runs the loop in ``world`` processes; what rank 0 trained (None when they crashed)."""
    script = tmp_path / "ddp_worker.py"
    script.write_text(WORKER)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
    }
    init, out = tmp_path / f"{name}.init", tmp_path / name
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(rank),
                str(world),
                str(init),
                str(out),
                str(batch),
                str(ckpt or ""),
                str(crash_at),
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(world)
    ]
    errors = [p.communicate(timeout=180)[1] for p in procs]
    codes = [p.returncode for p in procs]
    if crash_at:
        assert codes == [17] * world, errors
        return None
    assert codes == [0] * world, errors
    return dict(json.loads(Path(f"{out}-rank0.json").read_text()))


def train_losses(history: list[dict[str, float]]) -> list[float]:
    return [row["train_loss"] for row in history]


@pytest.mark.slow
def test_the_epoch_record_covers_every_rank(tmp_path: Path) -> None:
    """Two workers at batch 32 take the steps one process takes at 64: each epoch's train_loss
    agrees within 1e-6 relative (float sums in another order), and the samples counted are
    every row, not rank 0's half."""
    single = train(tmp_path, "single", world=1, batch=64)
    ddp = train(tmp_path, "ddp", world=2, batch=32)
    assert single is not None and ddp is not None
    assert single["samples_seen"] == ddp["samples_seen"] == 2 * N_ROWS
    assert train_losses(ddp["history"]) == pytest.approx(train_losses(single["history"]), rel=1e-6)


@pytest.mark.slow
def test_a_ddp_run_resumed_mid_epoch_records_the_same_epochs(tmp_path: Path) -> None:
    """The checkpoint at step 5 (of 8 per epoch) holds the epoch's loss so far over both ranks;
    a run that dies at step 7 and resumes from it ends with the uninterrupted run's train_loss
    (within 1e-6 relative), each sample of the epoch counted once."""
    whole = train(tmp_path, "whole", world=2, batch=32, ckpt=tmp_path / "whole-ckpt")
    ckpt = tmp_path / "ckpt"
    assert train(tmp_path, "crashed", world=2, batch=32, ckpt=ckpt, crash_at=7) is None
    assert [p.name for p in ckpt.glob("step-*.pt")] == ["step-00000005.pt"]
    resumed = train(tmp_path, "resumed", world=2, batch=32, ckpt=ckpt)
    assert whole is not None and resumed is not None
    assert train_losses(resumed["history"]) == pytest.approx(
        train_losses(whole["history"]), rel=1e-6
    )


@pytest.mark.slow
def test_the_stage_under_ddp_records_the_loss_of_one_process(tmp_path: Path) -> None:
    """history.json and metrics.json of 2 workers at batch 32 against 1 process at batch 64
    (deterministic, no dropout): train_loss per epoch within 1e-6 relative."""
    ws = workspace(tmp_path)
    for name, gpus, batch in (("single", 1, 64), ("ddp", 2, 32)):
        done = run_stage(ws, name, gpus=gpus, batch_size=batch)
        assert done.returncode == 0, done.stderr[-3000:]
    single, ddp = (
        json.loads((ws / f"out-{n}" / "history.json").read_text()) for n in ("single", "ddp")
    )
    assert train_losses(ddp) == pytest.approx(train_losses(single), rel=1e-6)
    metrics = json.loads((ws / "out-ddp" / "metrics.json").read_text())
    assert metrics["train_loss"] == ddp[-1]["train_loss"]


def without_train_data(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """test_distributed's workspace less its training data, and the environment of a stage
    that trains on it in 2 workers."""
    ws = workspace(tmp_path)
    (ws / "train.npz").unlink()
    with_ = {
        "entrypoint": "ddpmodel:build",
        "tracking": "off",
        "device": "cpu",
        "gpus": 2,
        "data": {"train": "train.npz"},
    }
    ctx = StageContext(
        ws, ws / "in", ws / "out", ws / "secrets", ws / "state", "", "train", "", with_
    )
    env = {"PYTHONPATH": str(REPO), **ctx.env(), "OMP_NUM_THREADS": "1"}
    return ws, env


def missing_data_line(ws: Path) -> str:
    return f"{ws}/train.npz: data file not found (check with.data and the upstream stage)"


@pytest.mark.slow
def test_a_workers_user_error_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """Each torchrun worker (``python -m lockgate.stages.train``) stops with the error's line
    and exit code 2, as one process does; no rank prints a Python traceback."""
    ws, env = without_train_data(tmp_path)
    done = subprocess.run(
        torchrun_command(2),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert lines.count(f"lockgate: error: {missing_data_line(ws)}") == 2, done.stderr
    assert not [line for line in lines if line.startswith("[rank")], done.stderr
    assert "exitcode  : 2 " in done.stderr  # in torchrun's report: the error's code, not 1


@pytest.mark.slow
def test_the_launcher_says_the_first_workers_error_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """``run_workers`` raises the worker's error with its exit code and holds back torchrun's
    report, so lockgate's handler prints one line, as for one process."""
    ws, env = without_train_data(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(WorkerError) as info:
        run_workers(2)
    assert str(info.value) == missing_data_line(ws)
    assert info.value.exit_code == EXIT_USAGE
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ChildFailedError" not in err and "error:" not in err, err


@pytest.mark.slow
def test_the_stage_says_a_workers_user_error_in_one_line(tmp_path: Path) -> None:
    ws, env = without_train_data(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "lockgate", "stage", "train"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stderr.splitlines() == [f"lockgate: error: {missing_data_line(ws)}"]
    assert done.returncode == EXIT_USAGE
