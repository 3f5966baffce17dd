"""A whole pickled module (MLflow's PyTorch flavor) is unpickled only when its bytes are the
ones whose digest the package stage recorded in serving.json."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from lockgate.serving.manifest import ModelLoadError, ServingManifest  # noqa: E402
from lockgate.serving.model import load_predictor  # noqa: E402


def bundle(tmp_path: Path, recorded: str | None) -> Path:
    (tmp_path / "code").mkdir(parents=True)
    torch.save(torch.nn.Linear(2, 1), tmp_path / "model.pth")
    digest = "sha256:" + hashlib.sha256((tmp_path / "model.pth").read_bytes()).hexdigest()
    ServingManifest(
        flavor="torch-pickle",
        weights="model.pth",
        n_features=2,
        weights_sha256=digest if recorded is None else recorded,
    ).write(tmp_path)
    return tmp_path


def test_the_packaged_weights_load(tmp_path: Path) -> None:
    assert len(load_predictor(bundle(tmp_path, None)).predict([[1.0, 2.0]])) == 1


def test_swapped_or_unrecorded_weights_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"does not match the packaged sha256:0+; refusing"):
        load_predictor(bundle(tmp_path / "a", "sha256:" + "0" * 64))
    with pytest.raises(ModelLoadError, match="without a recorded digest is not loaded"):
        load_predictor(bundle(tmp_path / "b", ""))
