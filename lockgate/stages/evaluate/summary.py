"""The evaluate stage's ``report.md``: metrics versus champion, gate checks, plots, latency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from lockgate.stages.evaluate.benchmark import LatencyResult
from lockgate.stages.evaluate.gate import GateDecision
from lockgate.stages.evaluate.holdout import higher_is_better
from lockgate.stages.evaluate.registry import RegisteredVersion

CONFUSION = "confusion-matrix.svg"
_CELL_MAX, _GRID_MAX = 40, 480  # a cell's largest side; the grid's largest side (many classes)
_MARGIN = 56


def plot_confusion(confusion: Sequence[Sequence[int]], path: Path) -> Path | None:
    """The confusion matrix as an SVG (rows: the true class, columns: the predicted one), each
    cell shaded by its share of its row and labelled with its count while cells are big enough
    to read; None for an empty matrix (:mod:`lockgate.stages.svg`)."""
    from lockgate.stages import svg

    k = len(confusion)
    if k == 0:
        return None
    cell = max(4.0, min(_CELL_MAX, _GRID_MAX / k))
    side = cell * k
    x0 = y0 = _MARGIN
    parts = []
    for i, row in enumerate(confusion):
        total = sum(row) or 1
        for j, count in enumerate(row):
            share = count / total
            x, y = x0 + j * cell, y0 + i * cell
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" '
                f'fill="{_blue(share)}" stroke="white" stroke-width="0.5">'
                f"<title>true {i}, predicted {j}: {count}</title></rect>"
            )
            if cell >= 18:
                ink = "white" if share > 0.5 else svg.INK
                parts.append(
                    svg.text(
                        x + cell / 2, y + cell / 2 + 4, str(count), "middle", size=10, fill=ink
                    )
                )
    step = max(1, round(14 / cell))  # class labels no closer than 14 px
    for c in range(0, k, step):
        mid = c * cell + cell / 2
        parts.append(svg.text(x0 + mid, y0 - 6, str(c), "middle", size=10))
        parts.append(svg.text(x0 - 6, y0 + mid + 4, str(c), "end", size=10))
    parts.append(svg.text(x0 + side / 2, 14, "predicted", "middle"))
    parts.append(svg.text(14, y0 + side / 2, "true", "middle", rotate=-90))
    size = side + _MARGIN + 12
    return svg.write(path, svg.document(size, size, parts))


def _blue(share: float) -> str:
    """White for 0 to a deep blue for 1."""
    light, dark = (247, 251, 255), (8, 48, 107)
    r, g, b = (round(lo + (hi - lo) * share) for lo, hi in zip(light, dark, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _delta(metric: str, ours: float, theirs: float | None) -> str:
    if theirs is None:
        return "–"
    delta = ours - theirs
    better = (delta > 0) == higher_is_better(metric) and delta != 0
    mark = "▲" if better else ("▼" if delta != 0 else "=")
    return f"{delta:+.4g} {mark}"


def render_report(
    metrics: Mapping[str, float],
    champion: Mapping[str, float] | None,
    decision: GateDecision,
    latency: Sequence[LatencyResult],
    registered: RegisteredVersion | None,
    images: Sequence[tuple[str, str]],
) -> str:
    icon = "✅ pass" if decision.passed else "❌ fail"
    lines = [f"## Evaluation: {icon}", "", decision.note + ".", ""]
    lines += ["| metric | candidate | champion | Δ |", "|---|---|---|---|"]
    for metric, value in metrics.items():
        theirs = champion.get(metric) if champion else None
        shown = f"{theirs:.4g}" if theirs is not None else "–"
        lines.append(f"| {metric} | {value:.4g} | {shown} | {_delta(metric, value, theirs)} |")
    if decision.checks:
        lines += ["", "| check | result | detail |", "|---|---|---|"]
        for check in decision.checks:
            lines.append(
                f"| {check.name} | {'pass' if check.passed else '**FAIL**'} | {check.detail} |"
            )
    if latency:
        lines += [
            "",
            "Inference on the packaged model:",
            "",
            "| batch | p50 ms | p95 ms | p99 ms | samples/s |",
            "|---|---|---|---|---|",
        ]
        for r in latency:
            lines.append(
                f"| {r.batch_size} | {r.p50_ms:.3f} | {r.p95_ms:.3f} | {r.p99_ms:.3f} "
                f"| {r.samples_per_s:,.0f} |"
            )
    for title, rel in images:
        lines += ["", f"![{title}]({rel})"]
    if registered:
        alias = "alias `candidate`" if registered.aliased else "no alias (gate failed)"
        lines += ["", f"Registered `{registered.name}` version {registered.version}, {alias}."]
    return "\n".join(lines) + "\n"
