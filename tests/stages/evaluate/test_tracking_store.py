"""The embedded MLflow store after the project moved or its state was deleted: evaluate (and
train) fail with a located error saying what to do, not `internal error: MlflowException`.
Real MLflow (SQLite store), a real trained model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.stages.evaluate.conftest import EVAL_WITH, TRAIN_WITH, stage_ctx


@pytest.fixture(scope="module")
def trained(prepared: Path) -> Path:
    from lockgate.stages.train import main as train_main

    folder = prepared / "once"
    folder.mkdir()
    (folder / "prepare").symlink_to(prepared / "prepare")
    ctx = stage_ctx(
        folder, "train", {**TRAIN_WITH, "epochs": 1}, prepared / "state", {"prepare": "prepare"}
    )
    assert train_main(ctx) == 0
    return folder


def _evaluate(folder: Path, state: Path) -> None:
    from lockgate.stages.evaluate import main as evaluate_main

    ctx = stage_ctx(folder, "evaluate", EVAL_WITH, state, {"prepare": "prepare", "train": "train"})
    evaluate_main(ctx)


def test_a_moved_store_is_detected_and_the_fix_named(trained: Path, prepared: Path) -> None:
    from lockgate.stages.tracking_store import TrackingStoreError

    moved = prepared / "elsewhere" / "state"
    shutil.copytree(prepared / "state", moved)
    with pytest.raises(TrackingStoreError) as caught:
        _evaluate(trained, moved)
    message = str(caught.value)
    assert message.startswith(f"{moved / 'mlflow' / 'mlflow.db'}: this embedded MLflow store")
    assert f"written at {prepared / 'state' / 'mlflow' / 'artifacts'}" in message
    assert f"remove {moved / 'mlflow'} and train again" in message


def test_a_deleted_store_names_the_train_run_and_the_command(trained: Path, prepared: Path) -> None:
    from lockgate.stages.tracking_store import TrackingStoreError

    fresh = prepared / "fresh-state"
    with pytest.raises(TrackingStoreError) as caught:
        _evaluate(trained, fresh)
    message = str(caught.value)
    assert message.startswith(f"{trained / 'evaluate-in' / 'train' / 'train-run.json'}: model_uri ")
    assert "is not in the tracking store sqlite:///" in message
    assert message.endswith("Train again: lockgate run --no-cache --stage train")


def test_training_does_not_print_mlflows_pickle_warning(
    prepared: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The model is logged in MLflow's pickle format on purpose (docs/train.md); MLflow's warning
    about that format was printed on every train and is kept out of the stage's output."""
    from lockgate.stages.train import main as train_main

    folder = prepared / "quiet"
    folder.mkdir()
    (folder / "prepare").symlink_to(prepared / "prepare")
    ctx = stage_ctx(
        folder, "train", {**TRAIN_WITH, "epochs": 1}, prepared / "state", {"prepare": "prepare"}
    )
    capfd.readouterr()
    assert train_main(ctx) == 0
    err = capfd.readouterr().err
    assert "train: " in err  # the stage's own summary is there
    assert "Pickle" not in err and "serialization_format" not in err
