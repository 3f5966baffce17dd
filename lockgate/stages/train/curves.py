"""Training-curve chart from a per-epoch history (used by the train and evaluate reports).

The chart is an SVG written by hand: loss per epoch (train and validation), and validation
accuracy in a second panel when the history has it. Line charts need no plotting library, and
importing one (matplotlib: about 0.3 s) was most of what the train stage's process spent beyond
a plain training script's on a short run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from lockgate.contract import TRAINING_CURVE_NAMES

CURVE = TRAINING_CURVE_NAMES[0]

_PANEL_W, _H = 440, 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 16, 30, 44
_COLOURS = {"train_loss": "#1f77b4", "val_loss": "#ff7f0e", "val_accuracy": "#2ca02c"}
_TEXT = 'font-family="sans-serif" font-size="11" fill="#333"'


def plot_history(history: Sequence[dict[str, float]], path: Path) -> Path | None:
    """Loss (and accuracy, when present) per epoch as an SVG at ``path``; None without
    history."""
    if not history:
        return None
    epochs = [float(row["epoch"]) for row in history]
    panels = [("loss", [k for k in ("train_loss", "val_loss") if any(k in r for r in history)])]
    if any("val_accuracy" in row for row in history):
        panels.append(("accuracy", ["val_accuracy"]))
    width = _PANEL_W * len(panels)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{_H}" '
        f'viewBox="0 0 {width} {_H}">',
        f'<rect width="{width}" height="{_H}" fill="white"/>',
    ]
    for i, (label, keys) in enumerate(panels):
        series = {k: [_number(row.get(k)) for row in history] for k in keys}
        parts += _panel(i * _PANEL_W, label, epochs, series)
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def _number(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _panel(x0: int, label: str, epochs: list[float], series: dict[str, list[float]]) -> list[str]:
    """One chart: axes, ticks and their labels, one line per series (broken where a value is
    missing, a dot where a value stands alone), and a legend."""
    values = [v for ys in series.values() for v in ys if not math.isnan(v)]
    xs_ticks = _ticks(min(epochs), max(epochs), integer=True)
    ys_ticks = _ticks(min(values), max(values)) if values else [0.0, 1.0]
    x_lo, x_hi, y_lo, y_hi = xs_ticks[0], xs_ticks[-1], ys_ticks[0], ys_ticks[-1]
    left, right, top, bottom = x0 + _LEFT, x0 + _PANEL_W - _RIGHT, _TOP, _H - _BOTTOM
    middle = (top + bottom) / 2

    def px(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * (right - left)

    def py(y: float) -> float:
        return bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top)

    out = [
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
        'fill="none" stroke="#999"/>'
    ]
    for t in xs_ticks:
        out.append(_line(px(t), bottom, px(t), bottom + 4, "#999"))
        out.append(_text(px(t), bottom + 16, _fmt(t), "middle"))
    for t in ys_ticks:
        out.append(_line(left, py(t), right, py(t), "#eee"))
        out.append(_text(left - 6, py(t) + 4, _fmt(t), "end"))
    out.append(_text((left + right) / 2, _H - 8, "epoch", "middle"))
    out.append(_text(x0 + 14, middle, label, "middle", f"rotate(-90 {x0 + 14} {middle:.1f})"))
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
    legend_x = right  # above the plot, right-aligned: the legend never hides a line
    for key in reversed(series):
        legend_x -= 7 * len(key) + 4  # about the width of 11 px text
        out.append(_text(legend_x, top - 10, key))
        colour = _COLOURS.get(key, "#555")
        out.append(_line(legend_x - 20, top - 14, legend_x - 4, top - 14, colour, 2))
        legend_x -= 32
    return out


def _line(x1: float, y1: float, x2: float, y2: float, colour: str, width: float = 1) -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
        f'stroke-width="{width}"/>'
    )


def _text(x: float, y: float, text: str, anchor: str = "start", transform: str = "") -> str:
    turn = f' transform="{transform}"' if transform else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{turn} {_TEXT}>{escape(text)}</text>'
    )


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


def _ticks(lo: float, hi: float, *, integer: bool = False) -> list[float]:
    """About five round tick values covering ``[lo, hi]`` (a flat range is widened)."""
    if hi - lo < 1e-12:
        pad = 1.0 if integer else max(abs(lo) * 0.05, 1e-3)
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1.0, round(step))
    start = math.floor(lo / step) * step
    ticks = [start]
    while ticks[-1] < hi - 1e-9 * step:
        ticks.append(start + len(ticks) * step)
    return ticks


def _fmt(value: float) -> str:
    return f"{value:.4g}" if value != 0 else "0"
