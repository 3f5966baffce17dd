"""The train stage end to end on real torch (CPU), with the reference pipelines' code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from lockgate.errors import LockgateError  # noqa: E402
from lockgate.stages.context import StageContext  # noqa: E402
from lockgate.stages.train import main  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


def digits_like(folder: Path, n: int = 600) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, size=n)
    x = (rng.random((n, 64)) * 0.3 + (np.arange(64) % 10 == y[:, None]) * 0.7).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "train.npz", X=x[: n - 100], y=y[: n - 100])
    np.savez(folder / "valid.npz", X=x[n - 100 :], y=y[n - 100 :])


def ctx_for(tmp_path: Path, pipeline: str, **with_: Any) -> StageContext:
    data = tmp_path / "in" / "prepare"
    if not data.exists():
        digits_like(data)
    base = {
        "entrypoint": "model:build",
        "epochs": 2,
        "batch_size": 64,
        "tracking": "off",
        "data": {"train": "in:prepare/train.npz", "valid": "in:prepare/valid.npz"},
    }
    return StageContext.from_env(
        {
            "LOCKGATE_WORKSPACE": str(REPO / "pipelines" / pipeline),
            "LOCKGATE_IN": str(tmp_path / "in"),
            "LOCKGATE_OUT": str(tmp_path / "out"),
            "LOCKGATE_STATE": str(tmp_path / "state"),
            "LOCKGATE_STAGE": "train",
            "LOCKGATE_WITH": json.dumps({**base, **with_}),
        }
    )


def test_amp_auto_measures_both_and_writes_every_output(tmp_path: Path) -> None:
    assert main(ctx_for(tmp_path, "tabular-mlp", amp="auto", amp_probe_steps=5)) == 0
    out = tmp_path / "out"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["amp"] in {"off", "bf16"}
    report = (out / "report.md").read_text()
    assert "amp auto picked" in report and "off:" in report and "bf16:" in report
    assert "device-resident" in report
    card = json.loads((out / "model" / "model-card.json").read_text())
    assert card["n_features"] == 64 and card["n_classes"] == 10
    state = torch.load(out / "model" / "state_dict.pt")
    assert sum(t.numel() for t in state.values()) == card["n_parameters"]
    curve = ET.parse(out / "training-curve.svg").getroot()
    assert len(curve.findall("{http://www.w3.org/2000/svg}polyline")) >= 1
    assert "![training curve](training-curve.svg)" in report
    assert len(json.loads((out / "history.json").read_text())) == 2
    run = json.loads((out / "train-run.json").read_text())
    assert run["mlflow_run_id"] is None and run["data_digest"].startswith("sha256:")
    # The probe ran on copies: the chosen precision is recorded for a resume of this config.
    assert (Path(run["checkpoint_dir"]) / "amp-choice.json").is_file()


def test_bf16_training_on_cpu_learns(tmp_path: Path) -> None:
    assert (
        main(
            ctx_for(
                tmp_path, "digits-cnn", amp="bf16", epochs=3, params={"lr": 0.005, "channels": 8}
            )
        )
        == 0
    )
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["amp"] == "bf16"
    assert metrics["val_accuracy"] > 0.5  # 10 classes: chance is 0.1


@pytest.mark.parametrize(
    ("with_", "message"),
    [
        ({"entrypoint": "model"}, "with.entrypoint 'model': expected 'package.module:function'"),
        ({"entrypoint": "nosuch:build"}, "module 'nosuch' not found"),
        ({"entrypoint": "model:nothing"}, "'nothing' is not a function"),
        ({"entrypoint": "prepare.py:SEED"}, "'SEED' is not a function"),
        ({"epochs": 0}, "train stage with.epochs: Input should be greater than or equal to 1"),
        ({"amp": "fp8"}, "train stage with.amp: Input should be 'auto', 'bf16', 'fp16' or 'off'"),
        ({"amp": "fp16"}, "float16 training needs a CUDA device"),
        ({"lr": 0.1}, "train stage with.lr: unknown key 'lr'; expected one of: amp,"),
        ({"data": {"train": "in:prepare/missing.parquet"}}, "missing.parquet: data file not found"),
    ],
)
def test_bad_with_block_is_a_clear_error(tmp_path: Path, with_: dict, message: str) -> None:
    with pytest.raises(LockgateError) as info:
        main(ctx_for(tmp_path, "tabular-mlp", **with_))
    assert message in str(info.value)


def test_logged_model_loads_without_the_project_source(tmp_path: Path) -> None:
    """The CNN's class lives in the pipeline's model.py; the packaged model must not need it."""
    pytest.importorskip("mlflow")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    ctx = ctx_for(tmp_path, "digits-cnn", tracking="on", epochs=1, params={"channels": 4})
    assert main(ctx) == 0
    run = json.loads((tmp_path / "out" / "train-run.json").read_text())
    probe = (
        "import sys, torch, mlflow.pytorch\n"
        f"mlflow.set_tracking_uri({run['tracking_uri']!r})\n"
        f"m = mlflow.pytorch.load_model({run['model_uri']!r})\n"
        "assert 'model' not in sys.modules, 'project source was imported'\n"
        "print(type(m).__name__, tuple(m(torch.zeros(3, 64)).shape))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("DigitsCNN (3, 10)")


def test_yaml_off_boolean_means_off(tmp_path: Path) -> None:
    """`amp: off` in YAML 1.1 arrives as False; it must mean "off", not fail."""
    from lockgate.stages.train.config import parse_train_config

    cfg = parse_train_config(
        {"entrypoint": "m:f", "data": {"train": "t.csv"}, "amp": False, "tracking": False}
    )
    assert (cfg.amp, cfg.tracking) == ("off", "off")
    with pytest.raises(LockgateError, match=r"with\.amp"):
        parse_train_config({"entrypoint": "m:f", "data": {"train": "t.csv"}, "amp": True})
