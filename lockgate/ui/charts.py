"""Inline SVG: one chart per rollout step (each condition's observed value against its
threshold) and a digest's lineage as a chain of boxes. Text only, no script, no assets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "inconclusive": "#f9a825", "skipped": "#757575"}
ROW_H = 22
WIDTH = 420
LABEL_W = 150


def _threshold(condition: str) -> float | None:
    try:
        return float(condition.split()[-1])
    except (ValueError, IndexError):
        return None


def step_chart(step: int, weight: int, measurements: Sequence[Mapping[str, Any]]) -> str:
    """Bars of the step's last window: the threshold sits at the middle of the bar area, so a
    bar past it is over the threshold; a condition with no value is drawn as a hatched gap."""
    last = measurements[-1]
    conditions = list(last.get("conditions") or [])
    height = ROW_H * max(1, len(conditions)) + 28
    area = WIDTH - LABEL_W - 10
    parts = [
        f'<svg class="step-chart" data-step="{step}" width="{WIDTH}" height="{height}" '
        f'role="img" aria-label="step {step + 1} at {weight}%">',
        f'<text x="4" y="14" font-size="12" font-weight="bold">step {step + 1} · {weight}% · '
        f"{escape(str(last.get('outcome')))} ({len(measurements)} window(s))</text>",
    ]
    mid = LABEL_W + area / 2
    parts.append(
        f'<line x1="{mid}" y1="20" x2="{mid}" y2="{height - 4}" stroke="#333" '
        'stroke-dasharray="3,2"/>'
    )
    for i, c in enumerate(conditions):
        y = 22 + i * ROW_H
        name = escape(str(c.get("condition")))
        observed, limit = c.get("observed"), _threshold(str(c.get("condition")))
        colour = COLOURS.get(str(c.get("outcome")), "#999")
        parts.append(f'<text x="4" y="{y + 14}" font-size="11">{name}</text>')
        if observed is None or not limit:
            parts.append(
                f'<rect x="{LABEL_W}" y="{y + 3}" width="{area / 2}" height="{ROW_H - 8}" '
                f'fill="none" stroke="{colour}" stroke-dasharray="2,2"/>'
                f'<text x="{LABEL_W + 4}" y="{y + 14}" font-size="10">no value</text>'
            )
            continue
        share = min(max(float(observed) / limit, 0.0), 2.0)
        parts.append(
            f'<rect class="bar" x="{LABEL_W}" y="{y + 3}" width="{share * area / 2:.1f}" '
            f'height="{ROW_H - 8}" fill="{colour}"><title>{float(observed):.4g}</title></rect>'
            f'<text x="{WIDTH - 4}" y="{y + 14}" font-size="10" text-anchor="end">'
            f"{float(observed):.3g}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def lineage_graph(nodes: Sequence[tuple[str, str, str]]) -> str:
    """``nodes``: (kind, label, status) in order; drawn left to right, joined by arrows."""
    box_w, gap, h = 150, 30, 56
    width = max(1, len(nodes)) * (box_w + gap)
    parts = [f'<svg class="lineage" width="{width}" height="{h + 10}" role="img">']
    for i, (kind, label, status) in enumerate(nodes):
        x = i * (box_w + gap) + 4
        colour = {"ok": "#2e7d32", "broken": "#c62828"}.get(status, "#555")
        parts.append(
            f'<g class="node" data-kind="{escape(kind)}"><rect x="{x}" y="4" width="{box_w}" '
            f'height="{h}" rx="6" fill="#fff" stroke="{colour}" stroke-width="2"/>'
            f'<text x="{x + 6}" y="22" font-size="11" font-weight="bold">{escape(kind)}</text>'
            f'<text x="{x + 6}" y="40" font-size="10">{escape(label[:26])}</text>'
            f"<title>{escape(label)}</title></g>"
        )
        if i:
            parts.append(
                f'<line x1="{x - gap}" y1="{4 + h / 2}" x2="{x - 2}" y2="{4 + h / 2}" '
                'stroke="#333" marker-end="url(#arrow)"/>'
            )
    parts.append(
        '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" '
        'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#333"/></marker></defs></svg>'
    )
    return "".join(parts)
