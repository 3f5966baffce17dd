"""Docs text for the delivery result files: ``delivery.json``, ``release-path.json``,
``ui-ab.json`` (see benchmarks/published.py), and their rows of the summary table in
docs/benchmarks/README.md.

Each renderer takes the parsed JSON document and returns the block's text; each ``summary_*``
returns ``(goal, target, measured, script, details)`` rows, the measured cell from the file
alone. Nothing here measures.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.tables import _machine

Row = tuple[str, str, str, str, str]

DELIVERY_SCRIPT = "`benchmarks/delivery.py`"
DELIVERY_PAGE = "[delivery](delivery.md)"
NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five"}
UI_SIDES = {"with_audit": "with the chain audit (default)", "without_audit": "`--no-audit`"}


def _ms(ms: float) -> str:
    """Milliseconds as the pages quote them: two decimals below 10 ms, one below 100 ms, then
    none."""
    if ms >= 100:
        return f"{ms:.0f} ms"
    return f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms"


def _sec(seconds: float) -> str:
    """Rollback times: milliseconds matter against a target in seconds, so three decimals."""
    return f"{seconds:.3f} s"


def _met(met: bool) -> str:
    return "met" if met else "**not met**"


def _worst(rollback: dict[str, Any]) -> float:
    """The slowest abort by either measure: traffic is all stable only when both are done."""
    return max(rollback["routing_in_effect_s"] + rollback["last_candidate_request_s"])


# -- delivery.json ---------------------------------------------------------------------------


def _rollback(doc: dict[str, Any]) -> list[str]:
    rb = doc["rollback"]
    rows = (
        ("routing in effect (new generation answered five times in a row)", "routing_in_effect_s"),
        ("last request answered by the candidate", "last_candidate_request_s"),
    )
    lines = [
        "| end of the failing measurement → | min | median | max | raw, s |",
        "|---|---|---|---|---|",
    ]
    for label, key in rows:
        raw = rb[key]
        lines.append(
            f"| {label} | {_sec(min(raw))} | {_sec(statistics.median(raw))} | {_sec(max(raw))} "
            f"| {', '.join(f'{v:.3f}' for v in raw)} |"
        )
    worst, target = _worst(rb), rb["target_s"]
    margin = f", a margin of {target / worst:.0f}x" if 0 < worst <= target else ""
    lines += [
        "",
        f"{rb['aborts']} aborted canaries: a candidate answering "
        f"{rb['error_rate'] * 100:g} % of its requests with an error, given "
        f"{rb['canary_weight']} % of {rb['load_rate']:.0f} requests/s through the router. "
        f"Slowest abort {_sec(worst)} against the target of ≤ {target:g} s: "
        f"**{_met(worst <= target)}**{margin}. Failed requests answered by the stable version "
        f"during the aborts: {rb['failed_answered_by_stable']} of {rb['requests']:,}.",
    ]
    return lines


def _proxy(doc: dict[str, Any]) -> list[str]:
    px = doc["proxy"]
    lines = [
        f"| {px['rate']:.0f} requests/s, {px['rows']} rows each | requests | failed | p50 | p90 "
        "| p99 | max | p50 / p99 per round, ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("direct", "nginx"):
        side = px[name]
        rounds = ", ".join(f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}" for r in side["rounds"])
        lines.append(
            f"| {side['label']} | {side['requests']:,} | {side['failed']} | "
            f"{_ms(side['p50_ms'])} | {_ms(side['p90_ms'])} | {_ms(side['p99_ms'])} | "
            f"{_ms(side['max_ms'])} | {rounds} |"
        )
    direct, nginx = px["direct"], px["nginx"]
    versions = doc["engine_versions"]
    lines += [
        "",
        f"The router adds **{nginx['p50_ms'] - direct['p50_ms']:+.2f} ms** at the median "
        f"({nginx['p50_ms'] / direct['p50_ms']:.2f}x) and "
        f"{nginx['p99_ms'] - direct['p99_ms']:+.2f} ms at p99. {px['rounds']} alternating rounds "
        f"of {px['seconds_per_round']:g} s per path after one warm-up round of each.",
        "",
        f"Docker engine {versions['docker_engine']}, nginx {versions['nginx']} in the proxy "
        f"image, the serving stub on Python {versions['serving_stub_python']}, both built from "
        f"`{doc['base_image']}`. {_machine(doc)}",
    ]
    return lines


def delivery(doc: dict[str, Any]) -> str:
    """Both delivery tables: rollback times over the aborts, then the two proxy paths."""
    return "\n".join([*_rollback(doc), "", *_proxy(doc)]) + "\n"


def summary_delivery(doc: dict[str, Any]) -> list[Row]:
    """The rollback row (median and worst against the target) and the proxy overhead row."""
    rb, px = doc["rollback"], doc["proxy"]
    routing, worst = rb["routing_in_effect_s"], _worst(rb)
    direct, nginx = px["direct"], px["nginx"]
    return [
        (
            "failing measurement → 100 % stable traffic",
            f"≤ {rb['target_s']:g} s",
            f"**{_sec(statistics.median(routing))} median**, {_sec(worst)} worst over "
            f"{rb['aborts']} aborts: {_met(worst <= rb['target_s'])}",
            DELIVERY_SCRIPT,
            DELIVERY_PAGE,
        ),
        (
            f"proxy overhead at {px['rate']:.0f} requests/s",
            "report",
            f"**{nginx['p50_ms'] - direct['p50_ms']:+.2f} ms** at p50 "
            f"({direct['p50_ms']:.2f} → {nginx['p50_ms']:.2f} ms); p99 "
            f"{direct['p99_ms']:.2f} → {nginx['p99_ms']:.2f} ms",
            "same",
            DELIVERY_PAGE,
        ),
    ]


# -- release-path.json -----------------------------------------------------------------------


def _steps(doc: dict[str, Any], *words: str) -> list[float]:
    """The durations of the steps whose name holds every one of ``words``, in run order."""
    return [s["seconds"] for s in doc["steps"] if all(w in s["name"] for w in words)]


def _span(values: list[float]) -> str:
    low, high = round(min(values)), round(max(values))
    return f"{low} s" if low == high else f"{low}–{high} s"


def _later_runs(runs: list[float]) -> str:
    """The runs after the first: cached stages make them shorter, often all alike."""
    later = [round(v) for v in runs[1:]]
    if len(later) > 1 and len(set(later)) == 1:
        count = NUMBERS.get(len(later), str(len(later)))
        return f", the next {count} {later[0]} s each"
    return "".join(f", then {v} s" for v in later)


def release_path(doc: dict[str, Any]) -> str:
    """README's durations: one sentence over the step kinds, every step in a folded table."""
    runs = _steps(doc, "lockgate run")
    approvals = _steps(doc, "approve ")  # not "promote ... before anyone approved it"
    approved = (
        f"signed approvals {max(approvals):.1f} s at most"
        if max(approvals) < 1
        else f"signed approvals {_span(approvals)}"
    )
    start, end = doc["load_average_at_start"], doc["load_average_at_end"]
    said = [
        f"the first `lockgate run` {runs[0]:.0f} s{_later_runs(runs)}",
        f"first deploys {_span(_steps(doc, 'first deploy'))}",
        f"canary promotions {_span(_steps(doc, 'canary'))}",
        approved,
        f"`monitor` {_span(_steps(doc, 'monitor'))}",
        f"lineage {_span(_steps(doc, 'lineage'))}",
    ]
    rows = "\n".join(f"| {s['name']} | {s['seconds']:.2f} |" for s in doc["steps"])
    m = doc["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(doc["versions"].items()) if v != "absent")
    return f"""\
The release path took **{doc["seconds"]:.0f} s** with the {doc["executor"]} executor on \
{m["cpus"]} cores (load average {start[0]:.1f} at the start, {end[0]:.1f} at the end): \
{", ".join(said)}.

<details><summary>Every step of that run</summary>

| step | seconds |
|---|---|
{rows}

Machine: {m["cpu"]}, {m["cpus"]} cores, {m["memory_gib"]} GiB, Python {m["python"]}; \
{versions}. Command: `{doc["command"]}`.

</details>
"""


def summary_release_path(doc: dict[str, Any]) -> list[Row]:
    """The whole release path as ``scripts/quickstart`` runs it: a duration to report."""
    runs = _steps(doc, "lockgate run")
    return [
        (
            "the whole release path (`pipelines/release`, as `scripts/quickstart` runs it)",
            "report",
            f"**{doc['seconds']:.0f} s** (the first `lockgate run` {runs[0]:.0f} s), runner "
            f"images built, load average {doc['load_average_at_start'][0]:.1f} at the start",
            "`benchmarks/release_path.py`",
            "[README](../../README.md)",
        )
    ]


# -- ui-ab.json ------------------------------------------------------------------------------


def _ab_medians(doc: dict[str, Any], code: str, side: str) -> list[float]:
    return [r[side]["median_ms"] for r in doc["runs"] if r["code"] == code]


def _ab_loads(doc: dict[str, Any]) -> str:
    low, high = (f"{f(r['load_avg_1m'] for r in doc['runs']):.1f}" for f in (min, max))
    return f"load average {low if low == high else f'{low}–{high}'} during the runs"


def _ab_raw(doc: dict[str, Any], side: str) -> str:
    return " / ".join(
        ", ".join(f"{ms:.1f}" for ms in _ab_medians(doc, code, side))
        for code in ("before", "after")
    )


def ui_ab(doc: dict[str, Any]) -> str:
    """The release page's median request with the code before and after, per audit setting."""
    best = doc["median_of_medians_ms"]
    lines = [
        "| median request, whole GET | before (median of the runs) | after (median of the runs) "
        "| before / after | each run's median, ms (before / after) |",
        "|---|---|---|---|---|",
    ]
    for side, label in UI_SIDES.items():
        was, now = best["before"][side], best["after"][side]
        lines.append(
            f"| {label} | {_ms(was)} | {_ms(now)} | **{was / now:.1f}x** | {_ab_raw(doc, side)} |"
        )
    if "machine" in doc:
        where = f" Code before: {doc['baseline']}. {_machine(doc)}"
    else:
        where = (
            f" {doc['cpus']} cores; no machine details or versions were recorded for these runs."
        )
    lines += ["", f"Runs: {doc['how']}; {_ab_loads(doc)}.{where}"]
    return "\n".join(lines) + "\n"


def summary_ui_ab(doc: dict[str, Any]) -> list[Row]:
    """The page before and after the incremental audit: a comparison to report."""
    best = doc["median_of_medians_ms"]
    entries = f", {doc['entries']:,}-entry ledger" if "entries" in doc else ""
    return [
        (
            f"release page before / after the incremental audit and fold{entries}",
            "report",
            f"median request **{_ms(best['before']['with_audit'])} → "
            f"{_ms(best['after']['with_audit'])}** with the audit, "
            f"{_ms(best['before']['without_audit'])} → {_ms(best['after']['without_audit'])} "
            f"without ({_ab_loads(doc)})",
            "`benchmarks/ui_ab.py`",
            "[delivery](../delivery.md#the-release-page-lockgate-ui)",
        )
    ]
