"""A small CNN for 8x8 digits: ``build`` is the entrypoint lockgate's train stage calls."""

from __future__ import annotations

from typing import Any

from torch import nn


class DigitsCNN(nn.Module):
    """Two 3x3 convolutions and a linear head over a flat row of 64 pixels."""

    def __init__(self, n_classes: int = 10, channels: int = 32, dropout: float = 0.1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels * 2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels * 2 * 16, n_classes),
        )

    def forward(self, x: Any) -> Any:
        return self.head(self.features(x.reshape(-1, 1, 8, 8)))


def build(ctx: Any) -> Any:
    from lockgate.stages.train import TrainPlan

    model = DigitsCNN(
        ctx.data.n_classes, int(ctx.param("channels", 32)), float(ctx.param("dropout", 0.1))
    )
    return TrainPlan(model=model)
