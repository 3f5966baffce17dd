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

import importlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

SERVING_FILE = "serving.json"


class ModelLoadError(Exception):
    """The bundle cannot be turned into a predictor; the message says which file and field."""


class InputError(ValueError):
    """A request body the model cannot score (HTTP 400)."""


@dataclass(frozen=True)
class ServingManifest:
    flavor: str
    entrypoint: str = ""
    weights: str = ""
    name: str = "model"
    version: str = ""
    run_id: str = ""
    n_features: int = 0
    n_classes: int = 0  # 0: a regressor
    labels: tuple[str, ...] = ()  # class names, by index
    feature_names: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    @classmethod
    def read(cls, model_dir: Path) -> ServingManifest:
        path = model_dir / SERVING_FILE
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"{path}: cannot read the serving manifest ({exc})") from None
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in raw.items() if k in known}
        for key in ("labels", "feature_names"):
            values[key] = tuple(str(x) for x in values.get(key) or ())
        if "flavor" not in values:
            raise ModelLoadError(f"{path}: field 'flavor' is missing")
        return cls(**values)

    def write(self, model_dir: Path) -> None:
        body = {k: getattr(self, k) for k in self.__dataclass_fields__}
        body["labels"], body["feature_names"] = list(self.labels), list(self.feature_names)
        (model_dir / SERVING_FILE).write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")


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


def import_entrypoint(spec: str, code_dir: Path) -> Callable[..., Any]:
    """``module:function`` (or ``file.py:function``) from the bundle's ``code/`` folder."""
    target, sep, func_name = spec.rpartition(":")
    if not sep or not target or not func_name:
        raise ModelLoadError(f"serving.json entrypoint {spec!r}: expected 'module:function'")
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    module_name = target.removesuffix(".py").replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(f"serving.json entrypoint {spec!r}: cannot import ({exc})") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ModelLoadError(f"serving.json entrypoint {spec!r}: {func_name!r} is not a function")
    return func


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
