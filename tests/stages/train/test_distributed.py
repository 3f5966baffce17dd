"""DDP through torchrun, for real: 2 worker processes on CPU with the gloo backend (no GPU here;
the same code path uses NCCL on GPUs). Slow: each run starts torchrun and two workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[3]

MODEL = '''
import os, signal
from torch import nn
from lockgate.stages.train import TrainPlan

class MLP(nn.Module):
    """A small MLP; on the rank named by KILL_RANK it SIGKILLs its own process mid-training."""
    def __init__(self, n_in, n_out, doomed):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, 16), nn.ReLU(), nn.Linear(16, n_out))
        self.doomed, self.calls = doomed, 0
    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.doomed and self.calls == 12:
                os.kill(os.getpid(), signal.SIGKILL)
        return self.net(x)

def build(ctx):
    doomed = ctx.rank == int(os.environ.get("KILL_RANK", "-1"))
    return TrainPlan(model=MLP(ctx.data.n_features, ctx.data.n_classes, doomed))
'''


def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "ddpmodel.py").write_text(MODEL)
    rng = np.random.default_rng(11)
    x = rng.normal(size=(600, 8)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] > 0).astype(np.int64)
    np.savez(ws / "train.npz", X=x[:500], y=y[:500])
    np.savez(ws / "valid.npz", X=x[500:], y=y[500:])
    return ws


def run_stage(
    ws: Path, name: str, *, gpus: int, batch_size: int, kill_rank: int | None = None
) -> subprocess.CompletedProcess[str]:
    with_ = {
        "entrypoint": "ddpmodel:build",
        "epochs": 3,
        "batch_size": batch_size,
        "seed": 2,
        "deterministic": True,
        "checkpoint_every": 3,
        "checkpoint_dir": str(ws / f"ckpt-{name}"),
        "tracking": "off",
        "device": "cpu",
        "gpus": gpus,
        "data": {"train": "train.npz", "valid": "valid.npz"},
    }
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LOCKGATE_WORKSPACE": str(ws),
        "LOCKGATE_IN": str(ws / "in"),
        "LOCKGATE_OUT": str(ws / f"out-{name}"),
        "LOCKGATE_STATE": str(ws / "state"),
        "LOCKGATE_STAGE": "train",
        "LOCKGATE_WITH": json.dumps(with_),
        "OMP_NUM_THREADS": "1",
    }
    env.pop("KILL_RANK", None)
    if kill_rank is not None:
        env["KILL_RANK"] = str(kill_rank)
    return subprocess.run(
        [sys.executable, "-m", "lockgate.stages.train"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def val_loss(ws: Path, name: str) -> float:
    return json.loads((ws / f"out-{name}" / "metrics.json").read_text())["val_loss"]


@pytest.mark.slow
def test_two_workers_train_like_one_process_and_resume_after_a_killed_rank(
    tmp_path: Path,
) -> None:
    ws = workspace(tmp_path)
    # One process at batch 64 against two workers at 32 each: the same samples per step (rank
    # r takes every other sample of the epoch's permutation), gradients averaged by DDP.
    single = run_stage(ws, "single", gpus=1, batch_size=64)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = run_stage(ws, "ddp", gpus=2, batch_size=32)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert val_loss(ws, "ddp") == pytest.approx(val_loss(ws, "single"), rel=1e-5)

    # Rank 1 is SIGKILLed during its 12th step (after the checkpoint at step 9): the stage
    # stops with one line that says so, and the run resumes from the chief's checkpoint.
    killed = run_stage(ws, "resumed", gpus=2, batch_size=32, kill_rank=1)
    assert killed.returncode != 0
    assert "train: one of the 2 worker processes failed (torchrun exit code" in killed.stderr
    assert sorted(p.name for p in (ws / "ckpt-resumed").glob("step-*.pt"))[-1] == "step-00000009.pt"
    resumed = run_stage(ws, "resumed", gpus=2, batch_size=32)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming an interrupted run from step 9" in resumed.stderr
    assert val_loss(ws, "resumed") == pytest.approx(val_loss(ws, "ddp"), rel=1e-6)


@pytest.mark.slow
def test_fewer_rows_than_workers_is_refused_in_one_line(tmp_path: Path) -> None:
    """One row for two workers: one worker would train on nothing (0 steps, and amp: auto's
    probe would wait for a batch forever); the stage stops before training, saying why."""
    ws = workspace(tmp_path)
    x = np.ones((1, 8), np.float32)
    np.savez(ws / "train.npz", X=x, y=np.zeros(1, np.int64))
    done = run_stage(ws, "tiny", gpus=2, batch_size=32)
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("lockgate: error:")]
    assert errors == [
        f"lockgate: error: {ws / 'train.npz'}: 1 rows for 2 workers (with.gpus 2): every "
        "worker needs at least one row; use fewer gpus or more data"
    ], done.stderr[-3000:]
    assert "Traceback" not in done.stderr
