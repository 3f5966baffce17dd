"""What the server serves: a model bundle folder described by ``serving.json``, loaded into a
:class:`Predictor` by the loader its ``flavor`` names.

A bundle is written by the package stage (from a train stage's output or an MLflow model) and
holds ``serving.json``, the model files, and ``code/`` (the user's modules, first on
``sys.path``). Flavors:

- ``torch-state-dict``: ``entrypoint`` (``module:function``) rebuilds the ``torch.nn.Module``
  from a build context like the train stage's; ``weights`` (a ``state_dict``) is loaded into it.
- ``torch-pickle``: ``weights`` is a whole pickled module (MLflow's PyTorch flavor); the
  classes it needs come from ``code/``.
- ``python``: ``entrypoint`` is ``build(model_dir) -> callable(rows) -> predictions``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lockgate.serving.manifest import (
    SERVING_FILE,
    ModelLoadError,
    ServingManifest,
    import_entrypoint,
)


class InputError(ValueError):
    """A request body the model cannot score (HTTP 400)."""


class Predictor(Protocol):
    manifest: ServingManifest

    def predict(self, rows: list[list[float]]) -> list[Any]:
        """One prediction per row: a label (classifiers) or a number / list (regressors)."""
        ...


def validate_rows(rows: Any, n_features: int) -> list[list[float]]:
    if not isinstance(rows, list) or not rows:
        raise InputError("'inputs' must be a non-empty list of rows")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in row
        ):
            raise InputError(f"inputs[{i}] must be a list of numbers")
        if n_features and len(row) != n_features:
            raise InputError(f"inputs[{i}] has {len(row)} values; the model takes {n_features}")
    return rows


@dataclass
class PythonPredictor:
    """A pure-Python model: ``build(model_dir)`` returns ``predict(rows)``."""

    manifest: ServingManifest
    score: Callable[[list[list[float]]], Sequence[Any]]

    def predict(self, rows: list[list[float]]) -> list[Any]:
        return list(self.score(rows))


def load_predictor(model_dir: Path) -> Predictor:
    """Read the manifest and load the model with its flavor's loader."""
    manifest = ServingManifest.read(model_dir)
    code_dir = model_dir / "code"
    if manifest.flavor == "python":
        build = import_entrypoint(manifest.entrypoint, code_dir)
        return PythonPredictor(manifest, build(model_dir))
    if manifest.flavor in ("torch-state-dict", "torch-pickle"):
        from lockgate.serving.torch_model import load_torch

        return load_torch(manifest, model_dir, code_dir)
    raise ModelLoadError(f"{model_dir / SERVING_FILE}: unknown flavor {manifest.flavor!r}")
