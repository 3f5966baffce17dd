"""Models in the embedded MLflow store sealed at rest: the real train stage logs a real model to
a real MLflow store (SQLite) with an encryption key, and the evaluate and package stages load
it. The tests of this module share one store and run in order."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.engine.sealed_tree import INDEX
from lockgate.errors import LockgateError
from tests.stages.evaluate.conftest import EVAL_WITH, PIPELINE, stage_ctx

KEY_ENV = "LOCKGATE_ENCRYPTION_KEY"


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("key") / "at-rest.key"
    path.write_text(os.urandom(32).hex() + "\n")
    return path


@pytest.fixture
def keyed(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """lockgate.yaml's ``encryption.key: file:PATH``, as the engine hands it to a stage."""
    monkeypatch.setenv(KEY_ENV, f"file:{key_file}")
    yield


def _model_folder(store: Path, run: Path) -> Path:
    """The folder MLflow keeps the model of ``run``'s train stage in."""
    import mlflow.artifacts

    from lockgate.stages.tracking_store import TrackingStore

    uri = json.loads((run / "train" / "out" / "train-run.json").read_text())["model_uri"]
    tracking = TrackingStore.resolve(store, None)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, tracking_uri=tracking.uri))


def _evaluate(prepared: Path, run: Path, **with_: Any) -> int:
    from lockgate.stages.evaluate import main

    ctx = stage_ctx(
        run,
        "evaluate",
        {**EVAL_WITH, **with_},
        prepared / "state",
        {"prepare": "prepare", "train": "train"},
    )
    return main(ctx)


def test_a_model_logged_with_a_key_rests_sealed_and_evaluates(
    train_and_evaluate: Any, prepared: Path, keyed: None
) -> None:
    """The pickle (the weights and the model's code) is sealed; MLflow's metadata stays
    readable; evaluate opens the model, measures it and registers it."""
    rc, run = train_and_evaluate("first")
    assert rc == 0
    folder = _model_folder(prepared / "state", run)
    assert (folder / INDEX).is_file()
    pickle = (folder / "data" / "model.pth").read_bytes()
    assert not pickle.startswith(b"PK") and b"torch" not in pickle  # no zip, no class names
    assert "pytorch" in (folder / "MLmodel").read_text()  # MLflow's metadata, readable
    metrics = json.loads((run / "evaluate" / "out" / "metrics.json").read_text())
    assert metrics["verdict"] == "pass" and metrics["accuracy"] >= 0.9
    assert (folder / "registered_model_meta").is_file()  # MLflow wrote it when it registered
    assert not list(Path(tempfile.gettempdir()).glob("lockgate-model-*"))  # opened, then removed


def test_the_champion_sealed_is_opened_to_be_compared(train_and_evaluate: Any, keyed: None) -> None:
    """The second run's champion is the first run's sealed model: it is re-measured."""
    rc, run = train_and_evaluate("second")
    assert rc == 0
    report = (run / "evaluate" / "out" / "report.md").read_text()
    assert "champion" in report.lower() and "could not be evaluated" not in report


def test_without_the_key_a_sealed_model_is_refused(prepared: Path) -> None:
    os.environ.pop(KEY_ENV, None)
    with pytest.raises(LockgateError) as caught:
        _evaluate(prepared, prepared / "second")
    assert "is sealed, but lockgate.yaml sets no `encryption:`" in str(caught.value)


def test_an_altered_or_unsealed_model_is_refused(prepared: Path, keyed: None) -> None:
    """A flipped bit of the sealed pickle, and a plaintext pickle put in place of the sealed
    folder, are each refused before anything is unpickled."""
    folder = _model_folder(prepared / "state", prepared / "second")
    pickle = folder / "data" / "model.pth"
    sealed = pickle.read_bytes()
    pickle.write_bytes(sealed[:-40] + bytes([sealed[-40] ^ 1]) + sealed[-39:])
    with pytest.raises(LockgateError, match="authentication failed"):
        _evaluate(prepared, prepared / "second")
    pickle.write_bytes(sealed)
    (folder / INDEX).unlink()
    with pytest.raises(LockgateError) as caught:
        _evaluate(prepared, prepared / "second")
    assert "is not sealed, but lockgate.yaml sets `encryption:`" in str(caught.value)


def test_package_opens_a_sealed_registered_model(
    prepared: Path, keyed: None, tmp_path: Path
) -> None:
    """``with.model: models:/NAME/1`` from the embedded store: the bundle holds the opened
    model, whose weights digest is the plaintext's."""
    from lockgate.stages.context import StageContext
    from lockgate.stages.package.sources import MlflowSource
    from lockgate.stages.tracking_store import TrackingStore

    store = TrackingStore.resolve(prepared / "state", None)
    ctx = StageContext(PIPELINE, tmp_path, tmp_path, tmp_path, prepared / "state", "", "", "")
    source = MlflowSource(
        "models:/tabular-mlp/1", store.uri, PIPELINE, "tabular-mlp", None, (), ctx.at_rest_sealer()
    )
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    packaged = source.fetch(bundle)
    assert packaged.version == "1"
    assert not (bundle / INDEX).exists()
    weights = list(bundle.rglob("model.pth"))
    assert weights and all(p.read_bytes().startswith(b"PK") for p in weights)  # torch's zip
