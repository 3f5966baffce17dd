"""The evaluate stage's ``report.md``: metrics versus champion, gate checks, plots, latency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from lockgate.stages.evaluate.benchmark import LatencyResult
from lockgate.stages.evaluate.gate import GateDecision
from lockgate.stages.evaluate.holdout import higher_is_better
from lockgate.stages.evaluate.registry import RegisteredVersion


def plot_confusion(confusion: Sequence[Sequence[int]], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    k = len(confusion)
    fig, ax = plt.subplots(figsize=(min(2 + 0.5 * k, 8), min(2 + 0.5 * k, 8)))
    ax.imshow(confusion, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(confusion[i][j]), ha="center", va="center", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


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
