"""Metrics of a model on the holdout set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HIGHER_IS_BETTER = {"accuracy", "f1_macro", "precision_macro", "recall_macro", "r2"}
LOWER_IS_BETTER = {"loss", "mse", "mae", "rmse"}


def higher_is_better(metric: str) -> bool:
    return metric in HIGHER_IS_BETTER or not (
        metric in LOWER_IS_BETTER or metric.endswith(("loss", "error"))
    )


@dataclass(frozen=True)
class HoldoutResult:
    metrics: dict[str, float]
    confusion: list[list[int]] | None  # rows: true class, columns: predicted class


def evaluate_model(
    model: Any, features: Any, target: Any, n_classes: int, device: Any, chunk: int = 8192
) -> HoldoutResult:
    import torch
    import torch.nn.functional as F

    model = model.to(device).eval()
    x = torch.as_tensor(features).to(device)
    y = torch.as_tensor(target).to(device)
    with torch.inference_mode():
        out = torch.cat([model(x[i : i + chunk]).float() for i in range(0, len(x), chunk)])
    if n_classes == 0:
        pred = out.reshape(y.shape)
        err = pred - y
        mse = float((err**2).mean())
        var = float(((y - y.mean()) ** 2).mean())
        return HoldoutResult(
            {
                "loss": mse,
                "mse": mse,
                "mae": float(err.abs().mean()),
                "rmse": mse**0.5,
                "r2": 1.0 - mse / var if var > 0 else 0.0,
            },
            None,
        )
    loss = float(F.cross_entropy(out, y))
    pred = out.argmax(dim=1)
    k = max(n_classes, int(out.shape[1]))
    confusion = torch.bincount(y * k + pred, minlength=k * k).reshape(k, k).cpu()
    tp = confusion.diag().double()
    precision = tp / confusion.sum(dim=0).clamp(min=1)
    recall = tp / confusion.sum(dim=1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    present = confusion.sum(dim=1) > 0
    metrics = {
        "loss": loss,
        "accuracy": float((pred == y).double().mean()),
        "f1_macro": float(f1[present].mean()),
        "precision_macro": float(precision[present].mean()),
        "recall_macro": float(recall[present].mean()),
    }
    return HoldoutResult(metrics, confusion.tolist())
