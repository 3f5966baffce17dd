"""The release pipeline's model: ``build`` is the entrypoint the train stage calls. A plain
stack of Linear layers with ReLU between them, so that export.py can turn it into the
pure-Python model the serving image runs."""

from __future__ import annotations

from typing import Any


def build(ctx: Any) -> Any:
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
