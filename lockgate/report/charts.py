"""Training curves as Mermaid charts, which GitHub and GitLab draw inside comments and summaries
without any uploaded image."""

from __future__ import annotations

import json
import math
from pathlib import Path

_SERIES = ("train_loss", "val_loss", "val_accuracy")


def history_chart(history: list[dict[str, float]]) -> str | None:
    """A Mermaid ``xychart-beta`` of loss (and accuracy) per epoch; None without usable rows."""
    rows = [r for r in history if isinstance(r, dict) and _finite(r.get("epoch"))]
    if not rows:
        return None
    epochs = ", ".join(str(r["epoch"]) for r in rows)  # numbers only: nothing leaves the chart
    lines = ["```mermaid", "xychart-beta", '    title "training curve"']
    lines.append(f'    x-axis "epoch" [{epochs}]')
    names = []
    for key in _SERIES:
        values = [r.get(key) for r in rows]
        if any(_finite(v) for v in values):
            shown = ", ".join(f"{v:.4g}" if _finite(v) else "0" for v in values)
            lines.append(f"    line [{shown}]")
            names.append(key)
    if not names:
        return None
    lines.append("```")
    legend = ", ".join(f"line {i + 1}: {n}" for i, n in enumerate(names))
    return "\n".join(lines) + f"\n\n*training curve — {legend}*"


def load_history(folders: list[Path]) -> list[dict[str, float]] | None:
    """The first readable ``history.json`` among ``folders``."""
    for folder in folders:
        path = folder / "history.json"
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except ValueError:
                continue
            if isinstance(data, list):
                return data
    return None


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
