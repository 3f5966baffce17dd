"""A user's mistake in the train stage's ``with:`` block or entrypoint is one line naming the
setting (a ``LockgateError``), found before training; never an internal error. And what a rerun
takes from the checkpoint folder (the ``amp: auto`` choice, the throughput) is of the run that
wrote it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from lockgate.errors import EXIT_USAGE, LockgateError  # noqa: E402
from lockgate.stages.context import StageContext  # noqa: E402
from lockgate.stages.train import main  # noqa: E402
from lockgate.stages.train.checkpoint import AMP_CHOICE, FINISHED, CheckpointStore  # noqa: E402

MODEL = """
import torch
from torch import nn
from lockgate.stages.train import TrainPlan

def build(ctx):
    return nn.Sequential(nn.Linear(ctx.data.n_features, 8), nn.ReLU(), nn.Linear(8, 2))

def build_optimizer_instance(ctx):
    model = build(ctx)
    return TrainPlan(model=model, optimizer=torch.optim.Adam(model.parameters()))

def build_loss_value(ctx):
    return TrainPlan(model=build(ctx), loss=0.5)
"""

USER_MODULES = {
    "model.py": MODEL,
    "badimport.py": 'raise RuntimeError("import-time boom")\n',
    "syntaxerr.py": "def build(ctx:\n    pass\n",
    "missingdep.py": "import notapkg_xyz  # noqa\n\ndef build(ctx):\n    pass\n",
}


def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    for name, text in USER_MODULES.items():
        (ws / name).write_text(text)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(160, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    np.savez(ws / "train.npz", X=x[:128], y=y[:128])
    np.savez(ws / "valid.npz", X=x[128:], y=y[128:])
    (ws / "afile").write_text("not a folder\n")
    return ws


def ctx_for(ws: Path, **with_: Any) -> StageContext:
    base = {
        "entrypoint": "model:build",
        "epochs": 1,
        "batch_size": 32,
        "tracking": "off",
        "device": "cpu",
        "data": {"train": "train.npz", "valid": "valid.npz"},
    }
    return StageContext.from_env(
        {
            "LOCKGATE_WORKSPACE": str(ws),
            "LOCKGATE_IN": str(ws / "in"),
            "LOCKGATE_OUT": str(ws.parent / "out"),
            "LOCKGATE_STATE": str(ws.parent / "state"),
            "LOCKGATE_STAGE": "train",
            "LOCKGATE_WITH": json.dumps({**base, **with_}),
        }
    )


def stage_error(ws: Path, capsys: pytest.CaptureFixture[str], **with_: Any) -> tuple[str, str]:
    """The one-line message a bad setting stops the stage with, and what went to stderr."""
    capsys.readouterr()
    with pytest.raises(LockgateError) as info:
        main(ctx_for(ws, **with_))
    assert info.value.exit_code == EXIT_USAGE
    message = str(info.value)
    assert "\n" not in message
    err = capsys.readouterr().err
    assert "train: epoch" not in err  # stopped before training
    return message.replace(str(ws), "WS"), err


@pytest.mark.parametrize(
    ("with_", "message"),
    [
        (
            {"device": "gpu"},
            "train stage with.device: 'gpu' is not a device lockgate trains on; use auto, cpu, "
            "cuda or cuda:N (N the GPU's index, e.g. cuda:0) (see docs/train.md)",
        ),
        (
            {"device": "mps"},
            "train stage with.device: 'mps' is not a device lockgate trains on; use auto, cpu, "
            "cuda or cuda:N (N the GPU's index, e.g. cuda:0) (see docs/train.md)",
        ),
        (
            {"seed": 100000000000000},
            "train stage with.seed: Input should be less than or equal to 4294967295 "
            "(see docs/train.md)",
        ),
        (
            {"seed": -1},
            "train stage with.seed: Input should be greater than or equal to 0 (see docs/train.md)",
        ),
        (
            {"epochs": True},
            "train stage with.epochs: true is not a whole number; give one, e.g. 10 "
            "(see docs/train.md)",
        ),
        (
            {"gpus": 2, "device": "cuda:0"},
            "train stage with: device 'cuda:0' names one GPU, but gpus is 2: each worker takes "
            "its own GPU (cuda:0 to cuda:1); set device: cuda (or auto), or gpus: 1 "
            "(see docs/train.md)",
        ),
        (
            {"params": {"lr": "fast"}},
            "train stage with.params.lr: 'fast' is not a number >= 0, which the default optimizer "
            "(AdamW) needs, e.g. lr: 0.001; or return your own optimizer from the entrypoint "
            "(TrainPlan.optimizer)",
        ),
        (
            {"params": {"weight_decay": [0.1]}},
            "train stage with.params.weight_decay: [0.1] is not a number >= 0, which the default "
            "optimizer (AdamW) needs, e.g. weight_decay: 0.01; or return your own optimizer from "
            "the entrypoint (TrainPlan.optimizer)",
        ),
        (
            {"checkpoint_dir": "afile"},
            "train stage with.checkpoint_dir 'afile': WS/afile is a file, not a folder; name a "
            "folder, or move the file away",
        ),
        (
            {"checkpoint_dir": "afile/sub"},
            "train stage with.checkpoint_dir 'afile/sub': cannot create WS/afile/sub (Not a "
            "directory); name a folder the stage can write",
        ),
        (
            {"entrypoint": "model:build_optimizer_instance"},
            "with.entrypoint 'model:build_optimizer_instance': TrainPlan.optimizer must be a "
            "function parameters -> Optimizer, got an object of type Adam; e.g. "
            "optimizer=lambda params: torch.optim.Adam(params, lr=1e-3)",
        ),
        (
            {"entrypoint": "model:build_loss_value"},
            "with.entrypoint 'model:build_loss_value': TrainPlan.loss must be a function "
            "(outputs, targets) -> loss tensor, got an object of type float",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], with_: dict[str, Any], message: str
) -> None:
    assert stage_error(workspace(tmp_path), capsys, **with_)[0] == message


def test_numbers_as_yaml_reads_them_are_taken_by_the_default_optimizer(tmp_path: Path) -> None:
    """YAML 1.1 reads ``lr: 1e-3`` as the string '1e-3': that is a number, not a mistake."""
    assert main(ctx_for(workspace(tmp_path), params={"lr": "1e-3", "weight_decay": 0})) == 0


@pytest.mark.parametrize(
    ("entrypoint", "message", "shown"),
    [
        (
            "badimport:build",
            "with.entrypoint 'badimport:build': importing badimport raised RuntimeError: "
            "import-time boom (traceback above)",
            'File "WS/badimport.py", line 1, in <module>',
        ),
        (
            "missingdep:build",
            "with.entrypoint 'missingdep:build': importing missingdep raised "
            "ModuleNotFoundError: No module named 'notapkg_xyz' (traceback above)",
            'File "WS/missingdep.py", line 1, in <module>',
        ),
        (
            "syntaxerr:build",
            "with.entrypoint 'syntaxerr:build': importing syntaxerr raised SyntaxError: '(' was "
            "never closed (syntaxerr.py, line 1) (traceback above)",
            'File "WS/syntaxerr.py", line 1',
        ),
        (
            "syntaxerr.py:build",
            "with.entrypoint 'syntaxerr.py:build': loading syntaxerr.py raised SyntaxError: '(' "
            "was never closed (syntaxerr.py, line 1) (traceback above)",
            'File "WS/syntaxerr.py", line 1',
        ),
    ],
)
def test_an_entrypoint_module_that_fails_to_load_is_the_users_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entrypoint: str, message: str, shown: str
) -> None:
    """Like an exception in ``build()``: the user's traceback, from their own file, then one
    line naming ``with.entrypoint``."""
    got, err = stage_error(workspace(tmp_path), capsys, entrypoint=entrypoint)
    assert got == message
    frames = [line.strip() for line in err.splitlines() if line.strip().startswith('File "')]
    assert frames[0].replace(str(tmp_path / "ws"), "WS") == shown
    assert "lockgate/" not in err  # lockgate's and importlib's frames are left out


def test_an_unsupported_tracking_uri_names_with_tracking_uri(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    message, _ = stage_error(workspace(tmp_path), capsys, tracking="on", tracking_uri="bogus://x")
    assert message == (
        "train stage with.tracking_uri 'bogus://x': MLflow has no tracking store for 'bogus' "
        "URIs; use http(s)://HOST for a tracking server, sqlite:///PATH, postgresql://, "
        "mysql://, file:PATH, databricks, or leave it unset for the embedded store (or set "
        "tracking: off)"
    )


def test_amp_auto_measures_again_for_a_fresh_run_and_keeps_its_choice_for_a_resume(
    tmp_path: Path,
) -> None:
    ws, ckpt = workspace(tmp_path), tmp_path / "ckpt"
    ctx = ctx_for(ws, amp="auto", amp_probe_steps=5, checkpoint_dir=str(ckpt))
    report = tmp_path / "out" / "report.md"
    assert main(ctx) == 0
    assert "amp auto picked" in report.read_text()

    # A finished run's choice is not this run's: it trains from step 0 and measures again.
    (ckpt / AMP_CHOICE).write_text(json.dumps({"mode": "bf16", "note": "planted"}))
    assert main(ctx) == 0
    assert "planted" not in report.read_text()
    assert "recorded before resume" not in report.read_text()
    assert "planted" not in (ckpt / AMP_CHOICE).read_text()  # this run's choice, kept

    # Resuming its final checkpoint (no finished mark) keeps that choice.
    recorded = json.loads((ckpt / AMP_CHOICE).read_text())
    (ckpt / FINISHED).unlink()
    assert main(ctx) == 0
    assert f"{recorded['note']} (recorded before resume)" in report.read_text()


def test_clearing_the_store_forgets_the_amp_choice(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.mark_finished(3)
    (tmp_path / AMP_CHOICE).write_text("{}")
    store.clear()
    assert sorted(tmp_path.iterdir()) == []


def test_resuming_a_run_that_had_ended_reports_its_throughput(tmp_path: Path) -> None:
    """No step runs when the last checkpoint is the run's end: the throughput is that of the
    epochs it holds (their harmonic mean: samples over seconds for equal epochs), not 0."""
    ws, ckpt = workspace(tmp_path), tmp_path / "ckpt"
    ctx = ctx_for(ws, epochs=2, checkpoint_dir=str(ckpt))
    assert main(ctx) == 0
    (ckpt / FINISHED).unlink()
    assert main(ctx) == 0
    out = tmp_path / "out"
    assert json.loads((out / "train-run.json").read_text())["resumed_from_step"] == 8
    rates = [row["samples_per_s"] for row in json.loads((out / "history.json").read_text())]
    expected = len(rates) / sum(1 / r for r in rates)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["samples_per_s"] == round(expected, 1) > 0
    assert f"| samples/s (train) | {expected:,.0f} |" in (out / "report.md").read_text()


def test_a_gpu_this_machine_lacks_is_one_line_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``cuda:3`` on a one-GPU machine, or more DDP workers than GPUs, is refused when the
    device is resolved, naming what the machine has. No GPU exists here, so CUDA's two answers
    (available, one device) are stubbed; the check itself is the real code."""
    from lockgate.stages.train.precision import DeviceError, resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    assert resolve_device("auto", local_rank=0) == torch.device("cuda", 0)
    with pytest.raises(
        DeviceError, match=r"'cuda:3': this machine has 1 GPU \(cuda:0 to cuda:0\)$"
    ):
        resolve_device("cuda:3")
    with pytest.raises(
        DeviceError, match=r"worker 1 needs GPU cuda:1 .*; set with\.gpus to at most 1$"
    ):
        resolve_device("auto", local_rank=1)
    with pytest.raises(DeviceError, match="worker 2 needs GPU cuda:2"):
        resolve_device("cuda", local_rank=2)


def test_too_few_gpus_names_the_gpus_key() -> None:
    """Worker 1 of ``gpus: 2`` on a machine with fewer GPUs: the message names the setting that
    exists (``with.gpus``). Run for real on this machine, which has no GPU."""
    from lockgate.stages.train.precision import DeviceError, _present

    torch = pytest.importorskip("torch")
    count = torch.cuda.device_count()
    with pytest.raises(DeviceError) as caught:
        _present("auto", torch.device("cuda", count + 1), count + 1)
    message = str(caught.value)
    assert message.endswith(f"set with.gpus to at most {count}"), message
    assert "with.workers" not in message
