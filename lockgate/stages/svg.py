"""The pieces of the small SVG charts the built-in stages draw for their reports: the training
curve (train, evaluate), the confusion matrix (evaluate) and drift histograms (data-check).

Charts of a few lines, bars or cells need no plotting library; importing one (matplotlib: about
0.3 s, and more per figure) cost a short stage more than its own work. Text is escaped, and a
chart holds no script, link or external reference.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape

FONT = 'font-family="sans-serif"'
INK = "#333"
BLUE, ORANGE, GREEN = "#1f77b4", "#ff7f0e", "#2ca02c"


def document(width: float, height: float, parts: Iterable[str]) -> str:
    """A whole SVG of ``width`` x ``height`` on a white ground."""
    w, h = f"{width:.0f}", f"{height:.0f}"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">'
    )
    return "\n".join([head, f'<rect width="{w}" height="{h}" fill="white"/>', *parts, "</svg>"])


def write(path: Path, svg: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg + "\n", encoding="utf-8")
    return path


def text(
    x: float,
    y: float,
    words: str,
    anchor: str = "start",
    *,
    size: int = 11,
    fill: str = INK,
    rotate: float = 0,
) -> str:
    """``words`` at (x, y), turned ``rotate`` degrees about that point."""
    turn = f' transform="rotate({rotate:g} {x:.1f} {y:.1f})"' if rotate else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{turn} {FONT} font-size="{size}" '
        f'fill="{fill}">{escape(words)}</text>'
    )


def line(x1: float, y1: float, x2: float, y2: float, colour: str, width: float = 1) -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
        f'stroke-width="{width}"/>'
    )


def legend(right: float, y: float, entries: Iterable[tuple[str, str]]) -> list[str]:
    """Entries of (label, colour) in a row that ends at ``right``, on the baseline ``y``."""
    out, x = [], right
    for label, colour in reversed(list(entries)):
        x -= 7 * len(label) + 4  # about the width of 11 px text
        out.append(text(x, y, label))
        out.append(line(x - 20, y - 4, x - 4, y - 4, colour, 2))
        x -= 32
    return out


def ticks(lo: float, hi: float, *, integer: bool = False) -> list[float]:
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
    out = [start]
    while out[-1] < hi - 1e-9 * step:
        out.append(start + len(out) * step)
    return out


def number(value: float) -> str:
    return f"{value:.4g}" if value != 0 else "0"
