"""The PyTorch loaders. torch is imported here only, when a torch model is served.

For ``torch-state-dict`` the user's entrypoint is called the way the train stage calls it (with
a build context carrying the device, params and data shape from the model card) and may return
the module itself or an object with a ``.model`` attribute (the train stage's ``TrainPlan``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgate.serving.manifest import (
    ModelLoadError,
    ServingManifest,
    import_entrypoint,
)


@dataclass(frozen=True)
class DataShape:
    """The data shape a model was trained on, as the train entrypoint's context names it."""

    n_samples: int
    n_features: int
    n_classes: int
    feature_names: tuple[str, ...]
    digest: str = ""

    @property
    def is_classification(self) -> bool:
        return self.n_classes > 0


@dataclass(frozen=True)
class BuildContext:
    """What a train entrypoint receives, rebuilt for serving (CPU, no mixed precision)."""

    device: Any
    data: DataShape
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    amp: str = "off"
    world_size: int = 1
    rank: int = 0

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


@dataclass
class TorchPredictor:
    manifest: ServingManifest
    module: Any

    def predict(self, rows: list[list[float]]) -> list[Any]:
        import torch

        with torch.inference_mode():
            out = self.module(torch.tensor(rows, dtype=torch.float32))
        if self.manifest.n_classes > 0:
            index = out.argmax(dim=-1).tolist()
            labels = self.manifest.labels
            return [labels[i] if i < len(labels) else i for i in index]
        values = out.squeeze(-1) if out.dim() > 1 and out.shape[-1] == 1 else out
        return [float(v) if not isinstance(v, list) else v for v in values.tolist()]


def check_weights_digest(manifest: ServingManifest, weights: Path) -> None:
    """Refuse a pickled module whose bytes are not the ones recorded when it was packaged."""
    import hashlib

    with weights.open("rb") as f:
        actual = "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
    if not manifest.weights_sha256:
        raise ModelLoadError(
            f"{weights.name}: a pickled module without a recorded digest is not loaded "
            "(serving.json weights_sha256); package the model again"
        )
    if actual != manifest.weights_sha256:
        raise ModelLoadError(
            f"{weights.name}: digest {actual} does not match the packaged "
            f"{manifest.weights_sha256}; refusing to unpickle it"
        )


def load_torch(manifest: ServingManifest, model_dir: Path, code_dir: Path) -> TorchPredictor:
    import torch

    weights = model_dir / (manifest.weights or "state_dict.pt")
    if not weights.is_file():
        raise ModelLoadError(f"{model_dir}: weights file {weights.name!r} is missing")
    if manifest.flavor == "torch-pickle":
        import sys

        check_weights_digest(manifest, weights)
        sys.path.insert(0, str(code_dir))
        # a whole pickled module can run code when loaded: only the file recorded at packaging
        module = torch.load(weights, map_location="cpu", weights_only=False)
    else:
        build = import_entrypoint(manifest.entrypoint, code_dir)
        shape = DataShape(0, manifest.n_features, manifest.n_classes, manifest.feature_names)
        ctx = BuildContext(torch.device("cpu"), shape, manifest.params, manifest.seed)
        built = build(ctx)
        module = getattr(built, "model", built)
        if not isinstance(module, torch.nn.Module):
            raise ModelLoadError(
                f"entrypoint {manifest.entrypoint!r} returned {type(built).__name__}, "
                "not a torch.nn.Module or an object with .model"
            )
        state = torch.load(weights, map_location="cpu", weights_only=True)
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise ModelLoadError(
                f"{weights.name} does not fit the rebuilt module: {first}"
            ) from None
    module.eval()
    return TorchPredictor(manifest, module)
