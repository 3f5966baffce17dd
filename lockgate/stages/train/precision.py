"""Device, seeds, determinism and mixed precision: the numeric setting a run trains under."""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass
from typing import Any

from lockgate.errors import LockgateError


class DeviceError(LockgateError):
    """The requested device or precision is not available here."""


def resolve_device(name: str, local_rank: int = 0) -> Any:
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return _present(name, torch.device("cuda", local_rank), local_rank)
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"with.device {name!r}: CUDA is not available on this machine")
    if device.type == "cuda" and device.index is None:  # tensors report cuda:N; compare equal
        device = torch.device("cuda", local_rank)
    return _present(name, device, local_rank) if device.type == "cuda" else device


def _present(name: str, device: Any, local_rank: int) -> Any:
    """``device`` if this machine has it; else one line now, not a CUDA error at the first
    tensor moved (or, under DDP, in one worker's amp probe after the others have started)."""
    import torch

    count = torch.cuda.device_count()
    if device.index < count:
        return device
    have = (
        f"{count} GPU{'s' if count != 1 else ''} (cuda:0 to cuda:{count - 1})"
        if count
        else "no GPU"
    )
    if name in ("auto", "cuda"):  # the worker's own GPU: one per worker
        raise DeviceError(
            f"with.device {name!r}: worker {local_rank} needs GPU cuda:{local_rank} but this "
            f"machine has {have}; set with.gpus to at most {count}"
        )
    raise DeviceError(f"with.device {name!r}: this machine has {have}")


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and torch; in deterministic mode, forbid nondeterministic kernels."""
    import torch

    random.seed(seed)
    with contextlib.suppress(ImportError):
        import numpy as np

        np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS reads this when it is first used; must be set before any CUDA matmul.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


@dataclass(frozen=True)
class Precision:
    """``mode`` is "bf16", "fp16" or "off"; ``autocast()`` is a fresh context each step."""

    mode: str
    device_type: str

    @property
    def dtype(self) -> Any:
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.mode)

    def autocast(self, cache: bool = True) -> contextlib.AbstractContextManager[Any]:
        """``cache=False`` inside a CUDA graph capture (autocast's weight cache is not allowed)."""
        import torch

        if self.mode == "off":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype, cache_enabled=cache)

    def grad_scaler(self) -> Any:
        """A GradScaler for fp16 (its range needs loss scaling); None otherwise."""
        import torch

        if self.mode != "fp16":
            return None
        return torch.amp.GradScaler(self.device_type)


def check_precision(mode: str, device: Any) -> None:
    import torch

    if mode == "fp16" and device.type != "cuda":
        raise DeviceError("with.amp 'fp16': float16 training needs a CUDA device; use bf16 or off")
    if mode == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError("with.amp 'bf16': this GPU does not support bfloat16; use fp16 or off")
