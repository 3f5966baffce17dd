"""The tabular MLP: ``build`` is the entrypoint lockgate's train stage calls."""

from __future__ import annotations

from typing import Any


def build(ctx: Any) -> Any:
    """An MLP sized from the data lockgate loaded; lockgate runs the loop (AdamW, cross-entropy
    by default; ``params.lr`` and ``params.weight_decay`` tune the optimizer)."""
    from torch import nn

    from lockgate.stages.train import TrainPlan

    hidden = int(ctx.param("hidden", 64))
    dropout = float(ctx.param("dropout", 0.1))
    model = nn.Sequential(
        nn.Linear(ctx.data.n_features, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, ctx.data.n_classes),
    )
    return TrainPlan(model=model)
