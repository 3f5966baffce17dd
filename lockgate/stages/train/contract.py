"""What a user's training entrypoint sees and returns.

The entrypoint named in ``with: entrypoint:`` is a function ``build(ctx: TrainContext) ->
TrainPlan``. It builds the model (and optionally the loss, optimizer and scheduler) for the data
lockgate loaded; lockgate owns the loop, so checkpoints, resume, mixed precision, device-resident
batches and tracking work the same for every model. Nothing here imports torch at module level.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DatasetShape:
    """The training data as the model needs to know it."""

    n_samples: int
    n_features: int
    n_classes: int  # 0 for a regression target
    feature_names: tuple[str, ...]
    digest: str  # sha256 of the data file(s)

    @property
    def is_classification(self) -> bool:
        return self.n_classes > 0


@dataclass(frozen=True)
class TrainContext:
    """Handed to the entrypoint: where it runs and with which settings."""

    device: Any  # torch.device
    amp: str  # the precision the loop will use: "bf16", "fp16" or "off"
    seed: int
    params: Mapping[str, Any]
    data: DatasetShape
    world_size: int = 1
    rank: int = 0

    def param(self, name: str, default: Any = None) -> Any:
        """A hyperparameter from ``with: params:``, or ``default``."""
        return self.params.get(name, default)


@dataclass(frozen=True)
class TrainPlan:
    """What the entrypoint returns. Only ``model`` is required.

    - ``loss``: ``(logits, targets) -> scalar tensor``; default cross-entropy for a
      classification target, mean squared error for a regression target.
    - ``optimizer``: ``(parameters) -> torch.optim.Optimizer``; default AdamW with
      ``params.lr`` (1e-3) and ``params.weight_decay`` (0.01).
    - ``scheduler``: ``(optimizer) -> LRScheduler`` stepped once per epoch; default none.
    - ``extra_metrics``: ``(logits, targets) -> {name: float}`` computed on the validation set
      at the end of each epoch, logged next to the built-in ones.
    """

    model: Any  # torch.nn.Module
    loss: Callable[[Any, Any], Any] | None = None
    optimizer: Callable[[Any], Any] | None = None
    scheduler: Callable[[Any], Any] | None = None
    extra_metrics: Callable[[Any, Any], Mapping[str, float]] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
