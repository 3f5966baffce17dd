"""Training-curve chart from a per-epoch history (used by the train and evaluate reports).

An SVG (:mod:`lockgate.stages.svg`): loss per epoch (train and validation), and validation
accuracy in a second panel when the history has it. Importing a plotting library for it
(matplotlib: about 0.3 s) was most of what the train stage's process spent beyond a plain
training script's on a short run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from lockgate.contract import TRAINING_CURVE_NAMES
from lockgate.stages import svg

CURVE = TRAINING_CURVE_NAMES[0]

_PANEL_W, _H = 440, 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 16, 30, 44
_COLOURS = {"train_loss": svg.BLUE, "val_loss": svg.ORANGE, "val_accuracy": svg.GREEN}


def plot_history(history: Sequence[dict[str, float]], path: Path) -> Path | None:
    """Loss (and accuracy, when present) per epoch as an SVG at ``path``; None without
    history."""
    if not history:
        return None
    epochs = [float(row["epoch"]) for row in history]
    panels = [("loss", [k for k in ("train_loss", "val_loss") if any(k in r for r in history)])]
    if any("val_accuracy" in row for row in history):
        panels.append(("accuracy", ["val_accuracy"]))
    parts: list[str] = []
    for i, (label, keys) in enumerate(panels):
        series = {k: [_number(row.get(k)) for row in history] for k in keys}
        parts += _panel(i * _PANEL_W, label, epochs, series)
    return svg.write(path, svg.document(_PANEL_W * len(panels), _H, parts))


def _number(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _panel(x0: int, label: str, epochs: list[float], series: dict[str, list[float]]) -> list[str]:
    """One chart: axes, ticks and their labels, one line per series (broken where a value is
    missing, a dot where a value stands alone), and a legend above it."""
    values = [v for ys in series.values() for v in ys if not math.isnan(v)]
    xs_ticks = svg.ticks(min(epochs), max(epochs), integer=True)
    ys_ticks = svg.ticks(min(values), max(values)) if values else [0.0, 1.0]
    x_lo, x_hi, y_lo, y_hi = xs_ticks[0], xs_ticks[-1], ys_ticks[0], ys_ticks[-1]
    left, right, top, bottom = x0 + _LEFT, x0 + _PANEL_W - _RIGHT, _TOP, _H - _BOTTOM

    def px(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * (right - left)

    def py(y: float) -> float:
        return bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top)

    out = [
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
        'fill="none" stroke="#999"/>'
    ]
    for t in xs_ticks:
        out.append(svg.line(px(t), bottom, px(t), bottom + 4, "#999"))
        out.append(svg.text(px(t), bottom + 16, svg.number(t), "middle"))
    for t in ys_ticks:
        out.append(svg.line(left, py(t), right, py(t), "#eee"))
        out.append(svg.text(left - 6, py(t) + 4, svg.number(t), "end"))
    out.append(svg.text((left + right) / 2, _H - 8, "epoch", "middle"))
    middle = (top + bottom) / 2
    out.append(svg.text(x0 + 14, middle, label, "middle", rotate=-90))
    for key, ys in series.items():
        colour = _COLOURS.get(key, "#555")
        for run in _runs(epochs, ys):
            if len(run) == 1:
                ((x, y),) = run
                out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{colour}"/>')
            else:
                points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in run)
                out.append(
                    f'<polyline points="{points}" fill="none" stroke="{colour}" '
                    'stroke-width="1.8"/>'
                )
    # above the plot, right-aligned: the legend never hides a line
    out += svg.legend(right, top - 10, [(k, _COLOURS.get(k, "#555")) for k in series])
    return out


def _runs(xs: list[float], ys: list[float]) -> list[list[tuple[float, float]]]:
    """The points of a series in unbroken runs (a missing value ends a run)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=True):
        if math.isnan(y):
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [r for r in runs if r]
