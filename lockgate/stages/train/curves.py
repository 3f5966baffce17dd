"""Training-curve plot from a per-epoch history (used by the train and evaluate reports)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def plot_history(history: Sequence[dict[str, float]], path: Path) -> Path | None:
    """Loss (and accuracy, when present) per epoch as a PNG; None if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    if not history:
        return None
    epochs = [row["epoch"] for row in history]
    has_acc = any("val_accuracy" in row for row in history)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(9 if has_acc else 5, 3.2))
    loss_ax = axes[0] if has_acc else axes
    for key in ("train_loss", "val_loss"):
        if any(key in row for row in history):
            loss_ax.plot(epochs, [row.get(key, float("nan")) for row in history], label=key)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.legend()
    if has_acc:
        axes[1].plot(
            epochs,
            [row.get("val_accuracy", float("nan")) for row in history],
            label="val_accuracy",
            color="tab:green",
        )
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("accuracy")
        axes[1].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
