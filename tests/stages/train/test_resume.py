"""A training process SIGKILLed right after a checkpoint resumes and ends where an uninterrupted
run with the same seed ends: bitwise equal weights and metrics on CPU in deterministic mode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from lockgate.stages.context import StageContext  # noqa: E402
from lockgate.stages.train import main  # noqa: E402

REPO = Path(__file__).resolve().parents[3]

SLOW_MODEL = '''
import os, time
from torch import nn
from lockgate.stages.train import TrainPlan

class SlowMLP(nn.Module):
    """An MLP with dropout (so RNG state matters) that can be slowed down without changing
    its numbers, giving the test time to kill it between checkpoints."""
    def __init__(self, n_in, n_out):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, 32), nn.ReLU(), nn.Dropout(0.2),
                                 nn.Linear(32, n_out))
        self.delay = float(os.environ.get("SLOW_STEP_S", "0"))
    def forward(self, x):
        if self.delay and self.training:
            time.sleep(self.delay)
        return self.net(x)

def build(ctx):
    return TrainPlan(model=SlowMLP(ctx.data.n_features, ctx.data.n_classes))
'''


def make_workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "slowmodel.py").write_text(SLOW_MODEL)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1200, 12)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    np.savez(ws / "train.npz", X=x[:1000], y=y[:1000])
    np.savez(ws / "valid.npz", X=x[1000:], y=y[1000:])
    return ws


def stage_env(ws: Path, out: Path, state: Path, ckpt: Path) -> dict[str, str]:
    with_ = {
        "entrypoint": "slowmodel:build",
        "epochs": 3,
        "batch_size": 50,
        "seed": 5,
        "deterministic": True,
        "checkpoint_every": 7,
        "checkpoint_dir": str(ckpt),
        "tracking": "off",
        "device": "cpu",
        "data": {"train": "train.npz", "valid": "valid.npz"},
    }
    return {
        "LOCKGATE_WORKSPACE": str(ws),
        "LOCKGATE_IN": str(ws / "in"),
        "LOCKGATE_OUT": str(out),
        "LOCKGATE_STATE": str(state),
        "LOCKGATE_STAGE": "train",
        "LOCKGATE_WITH": json.dumps(with_),
    }


def test_killed_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    state = tmp_path / "state"
    # Reference: one uninterrupted run.
    ref_env = stage_env(ws, tmp_path / "ref-out", state, tmp_path / "ref-ckpt")
    assert main(StageContext.from_env(ref_env)) == 0

    # The same run in a child process, slowed down, killed after its 3rd checkpoint (step 21,
    # in the middle of epoch 2 of 20 steps each).
    ckpt = tmp_path / "ckpt"
    env = stage_env(ws, tmp_path / "out", state, ckpt)
    child_env = {
        **os.environ,
        **env,
        "SLOW_STEP_S": "0.02",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    log = tmp_path / "child.log"
    with log.open("wb") as sink:
        child = subprocess.Popen(
            [sys.executable, "-m", "lockgate.stages.train"],
            env=child_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    target = ckpt / "step-00000021.pt"
    deadline = time.monotonic() + 60
    while not target.exists():
        assert child.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "no checkpoint written within 60 s"
        time.sleep(0.002)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not (tmp_path / "out" / "metrics.json").exists()  # really died mid-training
    assert sorted(p.name for p in ckpt.glob("*.pt"))[-1] <= "step-00000028.pt"

    # Resume in this process from whatever the dead run left.
    assert main(StageContext.from_env(env)) == 0
    run = json.loads((tmp_path / "out" / "train-run.json").read_text())
    assert run["resumed_from_step"] >= 21
    assert run["resumed_from_step"] < 60

    ref_metrics = json.loads((tmp_path / "ref-out" / "metrics.json").read_text())
    got_metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    for key in ("train_loss", "val_loss", "val_accuracy", "global_step"):
        assert got_metrics[key] == ref_metrics[key], key
    ref_state = torch.load(tmp_path / "ref-out" / "model" / "state_dict.pt")
    got_state = torch.load(tmp_path / "out" / "model" / "state_dict.pt")
    assert ref_state.keys() == got_state.keys()
    for name, tensor in ref_state.items():
        assert torch.equal(tensor, got_state[name]), name


def test_a_finished_run_is_retrained_not_resumed(tmp_path: Path, capsys) -> None:
    """Running the same inputs again (``--no-cache``, a local re-run) trains from step 0: the
    final checkpoint of a finished run is not something to resume."""
    ws = make_workspace(tmp_path)
    env = stage_env(ws, tmp_path / "out", tmp_path / "state", tmp_path / "ckpt")
    assert main(StageContext.from_env(env)) == 0
    first = json.loads((tmp_path / "out" / "metrics.json").read_text())
    capsys.readouterr()
    assert main(StageContext.from_env(env)) == 0
    again = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert (
        json.loads((tmp_path / "out" / "train-run.json").read_text())["resumed_from_step"] is None
    )
    assert again["global_step"] == first["global_step"] == 60  # all 3 epochs trained again
    err = capsys.readouterr().err
    assert "resum" not in err
    epochs = [line for line in err.splitlines() if line.startswith("train: epoch ")]
    assert [line.split()[2] for line in epochs] == ["1/3", "2/3", "3/3"]  # per-epoch progress
    assert "val_loss=" in epochs[-1]


def test_resuming_an_interrupted_run_is_said_on_the_console(tmp_path: Path, capsys) -> None:
    from lockgate.stages.train.checkpoint import CheckpointStore

    ws = make_workspace(tmp_path)
    env = stage_env(ws, tmp_path / "out", tmp_path / "state", tmp_path / "ckpt")
    assert main(StageContext.from_env(env)) == 0
    # What an interrupted run leaves: a mid-run checkpoint and no "finished" mark.
    store = CheckpointStore(tmp_path / "ckpt")
    last = store.existing()[-1]
    state = torch.load(last, weights_only=False)
    for path in (tmp_path / "ckpt").iterdir():
        path.unlink()
    state_mid = {**state, "global_step": 21}
    torch.save(state_mid, store.path_for(21))
    capsys.readouterr()
    assert main(StageContext.from_env(env)) == 0
    err = capsys.readouterr().err
    assert "train: resuming an interrupted run from step 21" in err
    assert str(tmp_path / "ckpt") in err


def interrupted(folder: Path) -> None:
    """What a run killed after its last checkpoint leaves: no "finished" mark."""
    (folder / "finished.json").unlink()


def run_json(out: Path) -> dict:
    return json.loads((out / "train-run.json").read_text())


def test_a_changed_run_in_the_same_checkpoint_dir_starts_fresh(tmp_path: Path, capsys) -> None:
    """``checkpoint_dir:`` shared by a run with another learning rate and batch size: its
    checkpoints carry the other run's fingerprint and are not resumed (a fresh run at batch 100
    takes 30 steps)."""
    ws = make_workspace(tmp_path)
    ckpt = tmp_path / "ckpt"
    env = stage_env(ws, tmp_path / "out", tmp_path / "state", ckpt)
    assert main(StageContext.from_env(env)) == 0
    interrupted(ckpt)
    changed = json.loads(env["LOCKGATE_WITH"]) | {"params": {"lr": 0.5}, "batch_size": 100}
    capsys.readouterr()
    assert main(StageContext.from_env({**env, "LOCKGATE_WITH": json.dumps(changed)})) == 0
    assert run_json(tmp_path / "out")["resumed_from_step"] is None
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["global_step"] == 30
    err = capsys.readouterr().err
    assert f"train: not resuming {ckpt / 'step-00000060.pt'}: it is of another run" in err
    assert "resuming an interrupted run" not in err


def test_an_edited_model_starts_fresh_in_the_default_folder(tmp_path: Path) -> None:
    """The default folder outside git (no commit to tell the runs apart): a model widened
    between an interrupted run and its rerun trains from step 0, not into a size mismatch."""
    ws = make_workspace(tmp_path)
    env = stage_env(ws, tmp_path / "out", tmp_path / "state", tmp_path / "unused")
    with_ = json.loads(env["LOCKGATE_WITH"])
    del with_["checkpoint_dir"]
    env["LOCKGATE_WITH"] = json.dumps(with_)
    assert main(StageContext.from_env(env)) == 0
    (first,) = (tmp_path / "state" / "train" / "train").iterdir()
    interrupted(first)
    source = (ws / "slowmodel.py").read_text()
    (ws / "slowmodel.py").write_text(source.replace("32", "48"))
    sys.modules.pop("slowmodel", None)  # a new process would import the edited file
    assert main(StageContext.from_env(env)) == 0
    assert run_json(tmp_path / "out")["resumed_from_step"] is None
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["global_step"] == 60


def test_a_resume_names_the_step_it_resumed_from_past_an_unreadable_one(
    tmp_path: Path, capsys
) -> None:
    ws = make_workspace(tmp_path)
    ckpt = tmp_path / "ckpt"
    env = stage_env(ws, tmp_path / "out", tmp_path / "state", ckpt)
    assert main(StageContext.from_env(env)) == 0
    interrupted(ckpt)
    newest = ckpt / "step-00000060.pt"
    newest.write_bytes(newest.read_bytes()[:1000])  # a disk that filled up
    capsys.readouterr()
    assert main(StageContext.from_env(env)) == 0
    err = capsys.readouterr().err
    assert f"train: skipping unreadable checkpoint {newest} (RuntimeError: " in err
    assert "train: resuming an interrupted run from step 56 " in err
    assert "from step 60" not in err
    assert run_json(tmp_path / "out")["resumed_from_step"] == 56


def test_amp_auto_keeps_its_choice_after_a_resume_false_run(tmp_path: Path) -> None:
    """``resume: false`` measures again, and a resume of that run keeps what it measured."""
    ws = make_workspace(tmp_path)
    ckpt = tmp_path / "ckpt"
    env = stage_env(ws, tmp_path / "out", tmp_path / "state", ckpt)
    with_ = json.loads(env["LOCKGATE_WITH"]) | {"amp": "auto", "amp_probe_steps": 5}
    fresh = {**env, "LOCKGATE_WITH": json.dumps(with_ | {"resume": False})}
    assert main(StageContext.from_env(fresh)) == 0
    assert (ckpt / "amp-choice.json").is_file()
    interrupted(ckpt)
    assert main(StageContext.from_env({**env, "LOCKGATE_WITH": json.dumps(with_)})) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "(recorded before resume)" in report
