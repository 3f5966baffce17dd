"""A model bundle's ``serving.json`` and the user's entrypoint it names: what both the serving
loaders (:mod:`lockgate.serving.model`, :mod:`lockgate.serving.torch_model`) and the package stage
that writes bundles share."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVING_FILE = "serving.json"


class ModelLoadError(Exception):
    """The bundle cannot be turned into a predictor; the message says which file and field."""


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
    weights_sha256: str = ""  # torch-pickle: the weights file as packaged, checked before loading

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
