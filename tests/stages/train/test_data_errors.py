"""Data the train stage cannot learn from is one line naming the file, the column and what to
do, before a step is trained or a file written: a validation file with other feature columns, a
target that cannot be class labels, NaN, an empty file. And under DDP, what is said once is said
once, not once per worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from lockgate.stages.context import StageContext  # noqa: E402
from lockgate.stages.train import main  # noqa: E402
from lockgate.stages.train.tabular import DatasetError  # noqa: E402

REPO = Path(__file__).resolve().parents[3]

MODEL = """
from torch import nn
from lockgate.stages.train import TrainPlan

def build(ctx):
    n_out = ctx.data.n_classes or 1
    return TrainPlan(model=nn.Sequential(nn.Linear(ctx.data.n_features, 8), nn.ReLU(),
                                         nn.Linear(8, n_out)))
"""


def features(n: int, seed: int = 3) -> dict[str, Any]:
    x = np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)
    x[:, 3] *= 10  # columns on other scales, so a swap shows in the metrics
    return {f"f{i}": x[:, i] for i in range(4)}


def labels(cols: dict[str, Any]) -> Any:
    return (cols["f0"] + 0.5 * cols["f1"] > 0).astype(np.int64)


def workspace(tmp_path: Path) -> Path:
    """``model.py`` and a train/valid pair of Parquet files (f0..f3, label)."""
    ws = tmp_path / "ws"
    ws.mkdir(parents=True)
    (ws / "model.py").write_text(MODEL)
    for name, n, seed in (("train", 300, 3), ("valid", 100, 4)):
        cols = features(n, seed)
        pq.write_table(pa.table({**cols, "label": labels(cols)}), ws / f"{name}.parquet")
    return ws


def write(ws: Path, name: str, table: dict[str, Any]) -> str:
    pq.write_table(pa.table(table), ws / name)
    return name


def ctx_for(ws: Path, **data: Any) -> StageContext:
    with_ = {
        "entrypoint": "model:build",
        "epochs": 1,
        "batch_size": 64,
        "seed": 1,
        "deterministic": True,
        "tracking": "off",
        "device": "cpu",
        "data": {
            k: v
            for k, v in {"train": "train.parquet", "valid": "valid.parquet", **data}.items()
            if v is not None  # valid=None: no validation file
        },
    }
    return StageContext.from_env(
        {
            "LOCKGATE_WORKSPACE": str(ws),
            "LOCKGATE_IN": str(ws / "in"),
            "LOCKGATE_OUT": str(ws / "out"),
            "LOCKGATE_STATE": str(ws / "state"),
            "LOCKGATE_STAGE": "train",
            "LOCKGATE_WITH": json.dumps(with_),
        }
    )


def refused(ws: Path, **data: Any) -> str:
    """The one-line error, after checking that nothing was trained or written."""
    with pytest.raises(DatasetError) as caught:
        main(ctx_for(ws, **data))
    assert not (ws / "out").exists() or not any((ws / "out").iterdir())
    assert not list(ws.glob("state/**/step-*.pt"))
    message = str(caught.value)
    assert "\n" not in message
    return message


def val_metrics(ws: Path, **data: Any) -> dict[str, float]:
    """The losses and accuracies of a run (not its speed)."""
    assert main(ctx_for(ws, **data)) == 0
    metrics = json.loads((ws / "out" / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k.endswith(("_loss", "_accuracy"))}


# 1. The validation file's features are matched to train's by name, not position.


def test_reordered_valid_columns_are_matched_by_name(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    valid = pq.read_table(ws / "valid.parquet").to_pydict()
    write(ws, "reordered.parquet", {k: valid[k] for k in ("label", "f3", "f1", "f0", "f2")})
    same = val_metrics(ws)
    assert val_metrics(ws, valid="reordered.parquet") == pytest.approx(same)


@pytest.mark.parametrize(
    ("columns", "diff"),
    [
        ({"f0": "f0", "f1": "f1", "f2": "f2", "g3": "f3"}, "missing: f3; not in train: g3"),
        ({"f0": "f0", "f1": "f1", "f2": "f2", "f3": "f3", "f4": "f0"}, "not in train: f4"),
        ({"f0": "f0", "f1": "f1", "f2": "f2"}, "missing: f3"),
    ],
)
def test_valid_with_other_feature_columns_is_refused(
    tmp_path: Path, columns: dict[str, str], diff: str
) -> None:
    ws = workspace(tmp_path)
    valid = pq.read_table(ws / "valid.parquet").to_pydict()
    write(
        ws, "other.parquet", {**{k: valid[v] for k, v in columns.items()}, "label": valid["label"]}
    )
    assert refused(ws, valid="other.parquet") == (
        f"{ws / 'other.parquet'}: feature columns differ from {ws / 'train.parquet'}'s ({diff}); "
        "with.data.valid needs the same feature columns as with.data.train (any order)"
    )


def test_an_npz_beside_a_parquet_needs_as_many_columns(tmp_path: Path) -> None:
    """An NPZ's ``X`` has no column names: its columns are taken by position, so only their
    number can be checked."""
    ws, trained = workspace(tmp_path), workspace(tmp_path / "trained")
    cols = features(100, 4)
    x = np.stack(list(cols.values()), axis=1)
    np.savez(trained / "valid4.npz", X=x, y=labels(cols))
    np.savez(ws / "valid5.npz", X=np.concatenate([x, x[:, :1]], axis=1), y=labels(cols))
    assert val_metrics(trained, valid="valid4.npz") == pytest.approx(val_metrics(trained))
    assert refused(ws, valid="valid5.npz") == (
        f"{ws / 'valid5.npz'}: 5 feature columns, but {ws / 'train.parquet'} has 4: "
        "with.data.valid needs the same features as with.data.train"
    )


# 2. A target that cannot be class labels (or values), and NaN features.


def target_file(ws: Path, target: Any) -> str:
    cols = features(len(target))
    return write(ws, "target.parquet", {**cols, "label": target})


@pytest.mark.parametrize(
    ("target", "data", "message"),
    [
        (
            np.array(["cat", "dog"] * 50),
            {},
            "target column 'label' is not numeric or boolean (object, e.g. 'cat'): encode it "
            "as integers 0..K-1 upstream, or name a numeric column in with.data.target",
        ),
        (
            pa.array([None if i % 25 == 0 else i % 2 for i in range(100)], pa.int64()),
            {},
            "target column 'label' has 4 null or NaN values (of 100 rows): drop those rows "
            'upstream (in an ingest: transform: [{filter: "label IS NOT NULL"}])',
        ),
        (
            np.array([-1, 1] * 50),
            {},
            "target column 'label' holds negative labels (lowest -1); classification needs "
            "labels 0..K-1: remap the column with.data.target names (e.g. -1/1 to 0/1), or set "
            "with.data.task: regression",
        ),
        (
            np.array([0.0, 1.5] * 50),
            {"task": "classification"},
            "target column 'label' holds non-integral values (e.g. 1.5), which are not class "
            "labels: remap them to integers 0..K-1 upstream, or set with.data.task: regression",
        ),
    ],
)
def test_a_target_that_cannot_be_labels_is_refused(
    tmp_path: Path, target: Any, data: dict[str, Any], message: str
) -> None:
    ws = workspace(tmp_path)
    name = target_file(ws, target)
    assert refused(ws, train=name, valid=None, **data) == f"{ws / name}: {message}"


def test_valid_labels_are_checked_as_train_s_task(tmp_path: Path) -> None:
    """``task: auto`` settled on classification from train's integer labels: a validation
    file with fractional labels is refused, not evaluated as regression."""
    ws = workspace(tmp_path)
    name = target_file(ws, np.array([0.0, 0.5] * 50))
    assert refused(ws, valid=name).startswith(
        f"{ws / name}: target column 'label' holds non-integral values (e.g. 0.5)"
    )


def test_boolean_and_float_targets_train(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    flags = target_file(ws, np.array([True, False] * 50))
    assert np.isfinite(val_metrics(ws, train=flags, valid=None)["train_loss"])
    card = json.loads((ws / "out" / "model" / "model-card.json").read_text())
    assert card["n_classes"] == 2
    values = target_file(ws, pa.array([0.5, 1.25] * 50, pa.float64()))
    assert np.isfinite(val_metrics(ws, train=values, valid=None)["train_loss"])
    card = json.loads((ws / "out" / "model" / "model-card.json").read_text())
    assert card["n_classes"] == 0


def test_nan_features_are_refused_naming_the_columns(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    cols = features(100)
    cols["f1"][[3, 7]] = np.nan
    nullable = pa.array([None if i == 5 else 1.0 for i in range(100)], pa.float64())
    name = write(ws, "holes.parquet", {**cols, "f2": nullable, "label": labels(features(100))})
    assert refused(ws, valid=name) == (
        f"{ws / name}: feature columns with null or NaN values, which would train to NaN: "
        "f1 (2), f2 (1); fill or drop them upstream"
    )


# 3. An empty file.


@pytest.mark.parametrize("which", ["train", "valid"])
def test_an_empty_file_is_refused_before_training(tmp_path: Path, which: str) -> None:
    ws = workspace(tmp_path)
    table = pq.read_table(ws / "train.parquet").slice(0, 0)
    pq.write_table(table, ws / "empty.parquet")
    assert refused(ws, **{which: "empty.parquet"}) == (
        f"{ws / 'empty.parquet'}: no rows (check the upstream stage that wrote it)"
    )


def test_an_empty_npz_is_refused(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    np.savez(ws / "empty.npz", X=np.zeros((0, 4), np.float32), y=np.zeros(0, np.int64))
    assert refused(ws, train="empty.npz", valid=None) == (
        f"{ws / 'empty.npz'}: no rows (check the upstream stage that wrote it)"
    )


# 9. Under DDP, lines said once are said by the chief alone.


@pytest.mark.slow
def test_ddp_workers_say_resume_and_capture_fallback_once(tmp_path: Path) -> None:
    """Two gloo workers on CPU (torchrun) resume a run of theirs whose finished mark is gone,
    asked for a CUDA graph that this machine cannot give. (The first run is the same DDP run:
    a checkpoint of another configuration, one process at another batch size say, is not
    resumed.)"""
    ws = workspace(tmp_path)
    ckpt = tmp_path / "ckpt"
    ctx = ctx_for(ws)
    with_ = {**ctx.with_, "capture": "cuda-graph", "checkpoint_dir": str(ckpt)}
    ctx = replace(ctx, with_=with_)
    env = {**os.environ, "PYTHONPATH": str(REPO), **ctx.env(), "OMP_NUM_THREADS": "1"}

    def run_ddp() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lockgate.stages.train"],
            env={**env, "LOCKGATE_WITH": json.dumps({**with_, "gpus": 2, "batch_size": 32})},
            capture_output=True,
            text=True,
            timeout=600,
        )

    first = run_ddp()
    assert first.returncode == 0, first.stderr[-3000:]
    (ckpt / "finished.json").unlink()  # as if the run had been killed after its last step
    ddp = run_ddp()
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert ddp.stderr.count("train: resuming an interrupted run from step") == 1, ddp.stderr
    assert ddp.stderr.count("train: capture cuda-graph -> off: no CUDA device here") == 1
