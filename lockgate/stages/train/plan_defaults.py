"""What the loop uses where a :class:`TrainPlan` leaves a field out: the loss and the optimizer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def default_loss(classification: bool) -> Callable[[Any, Any], Any]:
    import torch.nn.functional as F

    if classification:
        return F.cross_entropy
    return lambda out, y: F.mse_loss(out.reshape(y.shape), y)


def default_optimizer(params: Mapping[str, Any]) -> Callable[[Any], Any]:
    import torch

    lr = optimizer_setting(params, "lr", 1e-3)
    wd = optimizer_setting(params, "weight_decay", 0.01)
    return lambda parameters: torch.optim.AdamW(parameters, lr=lr, weight_decay=wd)


def optimizer_setting(params: Mapping[str, Any], name: str, default: float) -> float:
    """``params[name]`` as the default optimizer takes it: a number >= 0 (YAML 1.1 reads ``1e-3``
    as a string, so a numeric string counts)."""
    import math

    from lockgate.stages.train.config import TrainConfigError

    value = params.get(name, default)
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number >= 0):
        raise TrainConfigError(
            f"train stage with.params.{name}: {value!r} is not a number >= 0, which the default "
            f"optimizer (AdamW) needs, e.g. {name}: {default}; or return your own optimizer from "
            "the entrypoint (TrainPlan.optimizer)"
        )
    return number
