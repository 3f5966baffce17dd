"""A diverged run stops: an epoch whose loss is NaN or infinite is an error, not a metric."""

from __future__ import annotations

from collections.abc import Mapping

from lockgate.errors import LockgateError


class TrainingDiverged(LockgateError):
    """An epoch's loss is NaN or infinite: the run stopped rather than record it."""


def check_finite(row: Mapping[str, float], epoch: int) -> None:
    """Stop a diverged run: an epoch whose loss is NaN or infinite."""
    import math

    for name in ("train_loss", "val_loss"):
        value = row.get(name)
        if value is not None and not math.isfinite(value):
            raise TrainingDiverged(
                f"train stage, epoch {epoch}: {name} is {value} (training diverged); lower the "
                "learning rate (with.params.lr or your optimizer's), or set amp: off if it is on, "
                "and run again"
            )
