"""Markdown for docs/ and the benchmarks summary from the training result files (see
benchmarks/published.py): ``train-overhead.json`` (benchmarks/train/overhead.py) and
``gpu_check-h200.json`` (benchmarks/train/gpu_check.sh on an H200).

Each renderer takes the parsed JSON and returns the block's text, sentences included, so that no
number of these measurements has to be typed into a page; nothing here measures. Each
``summary_NAME`` returns the row(s) of the summary table in docs/benchmarks/README.md
(goal, target, measured, script, details).
"""

from __future__ import annotations

import re
import statistics
from typing import Any

from benchmarks.tables import _machine

Row = tuple[str, str, str, str, str]
# gpu_check.py writes a JSON list of measurements; a file wrapped as {"results": [...]} is read too
GpuDoc = dict[str, Any] | list[dict[str, Any]]

OVERHEAD_TARGET_PCT = 3.0  # the train stage's goal: at most 3 % slower than a plain loop (CPU)
BAR = {"tabular-mlp": 2.1e6, "digits-cnn": 1.8e6}  # the H200 goal at batch 4096, samples/s
PRECISION = {"off": "fp32", "bf16": "bf16", "fp16": "fp16"}


def _verdict(met: bool) -> str:
    """As the summary table words a target: met, or **not met** so that it stands out."""
    return "met" if met else "**not met**"


def _pct(value: float) -> str:
    """A signed percentage as the pages write it: ``+0.8``, ``−2.0`` (a real minus sign)."""
    return f"{value:+.1f}".replace("-", "−")


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _raw(values: list[float]) -> str:
    """Raw seconds to the millisecond: the CPU differences shown are around 1 %."""
    return ", ".join(f"{v:.3f}" for v in values)


def _spread_pct(values: list[float]) -> float:
    """(max − min) / median of a side's per-round rates: how much the rounds alone differ."""
    return 100 * (max(values) - min(values)) / statistics.median(values)


def _overhead_range(doc: dict[str, Any]) -> tuple[float, float]:
    found = [case["overhead_pct_cpu"] for case in doc["cases"]]
    return min(found), max(found)


def train_overhead(doc: dict[str, Any]) -> str:
    """The CPU overhead table: samples per CPU-second of each side, lockgate's overhead with and
    without its checkpoint store, the wall-clock overhead, the DataLoader loop, raw seconds."""
    lines = [
        "| model | rows × epochs | batch | plain, samples/CPU-s | lockgate | overhead, CPU "
        "| without checkpoints | overhead, wall | DataLoader, samples/CPU-s "
        "| raw CPU s, plain / lockgate |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    spreads, slower, paired = [], [], []
    for case in doc["cases"]:
        med, raw = case["median"], case["raw"]
        rounds = zip(raw["lockgate"]["cpu_s"], raw["plain"]["cpu_s"], strict=True)
        paired.append(100 * (statistics.median(lg / pl for lg, pl in rounds) - 1))
        plain = med["plain"]["samples_per_cpu_s"]
        loader = med["dataloader"]["samples_per_cpu_s"]
        samples = case["samples"]
        spreads.append(_spread_pct([samples / s for s in raw["plain"]["cpu_s"]]))
        slower.append(plain / loader)
        lines.append(
            f"| {case['pipeline']} ({_n(case['parameters'])} parameters) "
            f"| {_n(case['rows'])} × {case['epochs']} | {_n(case['batch_size'])} "
            f"| {_n(plain)} | {_n(med['lockgate']['samples_per_cpu_s'])} "
            f"| **{_pct(case['overhead_pct_cpu'])} %** "
            f"| {_pct(case['overhead_pct_cpu_no_checkpoints'])} % "
            f"| {_pct(case['overhead_pct_wall'])} % | {_n(loader)} "
            f"| {_raw(raw['plain']['cpu_s'])} / {_raw(raw['lockgate']['cpu_s'])} |"
        )
    low, high = _overhead_range(doc)
    verdict = "met" if high <= OVERHEAD_TARGET_PCT else "not met"
    tiny = " Tiny trial sizes (`--tiny`): not a measurement to publish." if doc.get("tiny") else ""
    lines += [
        "",
        f"Overhead on CPU time, from {_pct(low)} to {_pct(high)} % across the cases: the "
        f"≤ {OVERHEAD_TARGET_PCT:.0f} % target is **{verdict}**. A negative overhead means the "
        "lockgate loop was the faster one in that run. Taken round by round instead (lockgate's "
        "CPU seconds over the plain loop's in the same round, median over the rounds): "
        f"{', '.join(f'{_pct(v)}' for v in paired)} %. The plain side's own rounds spread by "
        f"{', '.join(f'{s:.1f}' for s in spreads)} % (max − min over the median, samples per "
        "CPU-second), case by case. The DataLoader loop takes "
        f"{min(slower):.1f}× to {max(slower):.1f}× the plain loop's CPU time per sample.",
        "",
        f"Medians of {doc['rounds']} {'rotating' if doc.get('rotated') else 'alternating'} "
        f"rounds after {doc['warmup']} warm-up of each side"
        f"{' (each round starts one side later)' if doc.get('rotated') else ''}, every side "
        "of a round from the same seed; each run timed from the model built to "
        f"the last epoch done (lockgate: checkpoint store at `checkpoint_every: "
        f"{doc['checkpoint_every']}`, its final checkpoint included), torch on "
        f"{doc['torch_threads']} thread{'s' if doc['torch_threads'] != 1 else ''}, data: "
        f"{doc['cases'][0]['data']}.{tiny} {_machine(doc)}",
    ]
    return "\n".join(lines) + "\n"


def summary_train_overhead(doc: dict[str, Any]) -> list[Row]:
    """The summary row: the range of the CPU overhead over the cases, against the target."""
    low, high = _overhead_range(doc)
    spread = max(
        _spread_pct([case["samples"] / s for s in case["raw"]["plain"]["cpu_s"]])
        for case in doc["cases"]
    )
    return [
        (
            "train stage overhead vs a plain PyTorch loop (CPU)",
            f"≤ {OVERHEAD_TARGET_PCT:.0f} %",
            f"**{_pct(low)} to {_pct(high)} %** (samples per CPU-second, "
            f"{len(doc['cases'])} cases): {_verdict(high <= OVERHEAD_TARGET_PCT)} in this run, "
            f"within noise: the plain loop's own rounds spread by up to {spread:.0f} %",
            "`benchmarks/train/overhead.py`",
            "[train](train.md#training-loop-overhead-versus-a-plain-pytorch-loop)",
        )
    ]


def _measurements(doc: GpuDoc) -> list[dict[str, Any]]:
    if isinstance(doc, dict):
        return list(doc.get("results", []))
    return list(doc)


def _m(rate: float) -> str:
    return f"{rate / 1e6:.2f}M"


def _pipelines(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["pipeline"] for r in rows if "pipeline" in r))


def _stages(rows: list[dict[str, Any]], pipeline: str) -> list[dict[str, Any]]:
    """The stage runs of ``pipeline`` that finished (capture ``off`` first where there are
    several capture modes)."""
    found = [
        r
        for r in rows
        if r["what"] == "lockgate-stage" and r["pipeline"] == pipeline and r["rc"] == 0
    ]
    return sorted(found, key=lambda r: r.get("capture_setting", "off") != "off")


def _stage(rows: list[dict[str, Any]], pipeline: str, amp: str) -> dict[str, Any] | None:
    """The stage run of ``pipeline`` with ``amp`` asked and no capture (eager steps)."""
    for r in _stages(rows, pipeline):
        if r["amp_setting"] == amp and r.get("capture_setting", "off") == "off":
            return r
    return None


def _plain(rows: list[dict[str, Any]], pipeline: str, amp: str) -> dict[str, Any] | None:
    for r in rows:
        if r["what"] == "plain-pytorch-loop" and r["pipeline"] == pipeline and r["amp"] == amp:
            return r
    return None


def _loader(rows: list[dict[str, Any]], pipeline: str) -> dict[str, Any] | None:
    for r in rows:
        if r["what"] == "dataloader-loop" and r["pipeline"] == pipeline:
            return r
    return None


def _amp_label(row: dict[str, Any]) -> str:
    asked, used = row["amp_setting"], row.get("amp_used", row["amp_setting"])
    if asked == "auto":
        return f"auto → picked {used}" + (f" ({PRECISION[used]})" if used == "off" else "")
    return f"{asked} ({PRECISION.get(asked, asked)})" if asked == "off" else asked


def _cell(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, int | float) else "—"


def _gpu_table(rows: list[dict[str, Any]]) -> list[str]:
    """One line per stage run, plain loop and DataLoader loop, per model; the capture, process
    wall and peak-memory columns only where the file has them."""
    captures = any("capture_setting" in r for r in rows)
    walls = any("process_wall_s" in r for r in rows if r["what"] == "plain-pytorch-loop")
    memory = any(r.get("peak_gpu_memory_mib") for r in rows)
    head = "| model | run | amp |" + (" capture |" if captures else "")
    head += " overall samples/s | steady samples/s | steady vs plain loop, same precision |"
    head += " process wall, start to exit |" if walls else ""
    head += " peak GPU memory, MiB |" if memory else ""
    lines = [head, "|" + "---|" * head.count(" |")]

    def line(model: str, run: str, amp: str, capture: str, r: dict[str, Any], vs: str) -> None:
        text = f"| {model} | {run} | {amp} |" + (f" {capture} |" if captures else "")
        text += f" {_cell(r.get('samples_per_s'), ',.0f')} |"
        text += f" {_cell(r.get('steady_samples_per_s'), ',.0f')} | {vs} |"
        if walls:
            wall = r.get("process_wall_s")
            text += f" {wall:.2f} s |" if isinstance(wall, int | float) else " — |"
        if memory:
            text += f" {_cell(r.get('peak_gpu_memory_mib'), ',.0f')} |"
        lines.append(text)

    for pipeline in _pipelines(rows):
        for r in [r for r in rows if r["what"] == "lockgate-stage" and r["pipeline"] == pipeline]:
            capture = r.get("capture") or r.get("capture_setting", "off")
            if r["rc"] != 0:
                run = f"lockgate train stage: failed ({r['rc']})"
                line(pipeline, run, r["amp_setting"], capture, {}, "—")
                continue
            plain = _plain(rows, pipeline, r.get("amp_used", r["amp_setting"]))
            vs = (
                f"{r['steady_samples_per_s'] / plain['steady_samples_per_s']:.2f}×"
                if plain
                else "—"
            )
            line(pipeline, "lockgate train stage", _amp_label(r), capture, r, vs)
        for amp in ("off", "bf16"):
            plain = _plain(rows, pipeline, amp)
            if plain:
                run = "plain PyTorch loop, device-resident"
                line(pipeline, run, PRECISION[amp], "off", plain, "1")
        loader, plain = _loader(rows, pipeline), _plain(rows, pipeline, "off")
        if loader and plain:
            ratio = loader["samples_per_s"] / plain["steady_samples_per_s"]
            vs = f"{ratio:.2f}× ({1 / ratio:.0f}× slower)"
            line(pipeline, "DataLoader over host tensors, one epoch", "fp32", "off", loader, vs)
    return lines


def _probe(note: str) -> str:
    """``amp auto picked off (off: 3,246,591 samples/s, bf16: 2,645,958 samples/s)`` shortened to
    ``off (fp32 3.25M vs bf16 2.65M samples/s)``; the note as it is when it reads otherwise."""
    found = re.search(
        r"picked (\w+) \((\w+): ([\d,]+) samples/s, (\w+): ([\d,]+) samples/s\)", note
    )
    if not found:
        return note
    picked, a, rate_a, b, rate_b = found.groups()
    rates = [(PRECISION.get(a, a), rate_a), (PRECISION.get(b, b), rate_b)]
    shown = " vs ".join(f"{name} {_m(float(rate.replace(',', '')))}" for name, rate in rates)
    return f"{PRECISION.get(picked, picked)} ({shown} samples/s)"


def _by_model(values: dict[str, str]) -> str:
    return " / ".join(values.values()) + f" ({' / '.join(values)})"


def _findings(rows: list[dict[str, Any]], batch: int) -> list[str]:
    """The sentences the page states about this run, each number taken from the file."""
    pipelines = _pipelines(rows)
    found = []
    probes = [
        f"{p} picked {_probe(s['amp_probe'])}"
        for p in pipelines
        if (s := _stage(rows, p, "auto")) and s.get("amp_probe")
    ]
    if probes:
        found.append(f"The AMP probe of `amp: auto`: {'; '.join(probes)}.")
    slower = {
        p: f"{plain['steady_samples_per_s'] / loader['samples_per_s']:.0f}×"
        for p in pipelines
        if (loader := _loader(rows, p)) and (plain := _plain(rows, p, "off"))
    }
    if slower:
        found.append(
            f"A DataLoader over host tensors is {_by_model(slower)} slower than the plain "
            "loop's steady fp32 rate."
        )
    rates: dict[str, dict[str, str]] = {}
    for amp, key in (("off", "fp32"), ("bf16", "bf16"), ("auto", "`auto`")):
        picked = {p: s for p in pipelines if (s := _stage(rows, p, amp))}
        if len(picked) == len(pipelines):
            rates[key] = {p: _m(s["steady_samples_per_s"]) for p, s in picked.items()}
    fp32 = {p: s for p in pipelines if (s := _stage(rows, p, "off"))}
    if rates and len(fp32) == len(pipelines) and set(pipelines) <= set(BAR):
        bar = " / ".join(f"{BAR[p] / 1e6:g}M" for p in pipelines)
        above = [p for p in pipelines if fp32[p]["steady_samples_per_s"] >= BAR[p]]
        verdict = (
            "above the bar for every model"
            if len(above) == len(pipelines)
            else f"above the bar for {', '.join(above) or 'no model'}"
        )
        steady = "; ".join(f"{key} {' / '.join(v.values())}" for key, v in rates.items())
        overall = " / ".join(_m(fp32[p]["samples_per_s"]) for p in pipelines)
        found.append(
            f"Against the bar of {bar} samples/s ({' / '.join(pipelines)}) at batch "
            f"{_n(batch)}: the stage's steady rate is {steady} (fp32 {verdict}); over the whole "
            f"run (first epoch included) fp32 reaches {overall}."
        )
    costs = []
    for p in pipelines:
        parts = []
        for amp in ("off", "bf16"):
            stage, plain = _stage(rows, p, amp), _plain(rows, p, amp)
            if stage and plain:
                cost = 100 * (1 - stage["steady_samples_per_s"] / plain["steady_samples_per_s"])
                parts.append(f"{PRECISION[amp]} {_pct(cost)} %")
        if parts:
            costs.append(f"{p} {', '.join(parts)}")
    if costs:
        found.append(
            "Steady-state cost of the stage against the plain loop in the same precision "
            f"(1 − stage / plain): {'; '.join(costs)}."
        )
    steps = {p: f"{batch / s['steady_samples_per_s'] * 1000:.2f} ms" for p, s in fp32.items()}
    if steps:
        found.append(
            f"At the stage's steady fp32 rate a step of {_n(batch)} samples takes "
            f"{_by_model(steps)}."
        )
    return [f"- {sentence}" for sentence in found]


def gpu_check(doc: GpuDoc) -> str:
    """The GPU table and what it shows, from the file gpu_check.py wrote, in either of its
    shapes (before and after it measured capture modes, peak memory and the plain process)."""
    rows = _measurements(doc)
    env = next((r for r in rows if r["what"] == "environment"), {})
    origin = next((r["origin"] for r in rows if r["what"] == "data"), "")
    epochs = env.get("epochs", "?")
    return (
        "\n".join(
            [
                *_gpu_table(rows),
                "",
                *_findings(rows, env.get("batch_size", 4096)),
                "",
                f"Measured once on an {env.get('device', '?')}: {_n(env.get('rows', 0))} rows per "
                f"model, {origin}, batch {_n(env.get('batch_size', 0))}, {epochs} epochs, data "
                "placed on the device, each stage run as its own process through the stage "
                f"contract; Python {env.get('python', '?')}, torch {env.get('torch', '?')}. "
                '"Overall" includes the first epoch (CUDA warm-up, allocator growth, for `auto` '
                f'the AMP probe); "steady" is the median of epochs 2–{epochs}. Written by '
                "`bash benchmarks/train/gpu_check.sh OUTDIR`.",
            ]
        )
        + "\n"
    )


def summary_gpu_check(doc: GpuDoc) -> list[Row]:
    """The summary row: steady fp32 rates of the stage (eager steps) next to the plain loop's,
    bf16 and the DataLoader loop, one number per model; a report, so no verdict."""
    rows = _measurements(doc)
    pipelines = _pipelines(rows)

    def rates(pick: Any, key: str) -> str:
        found = [pick(p) for p in pipelines]
        return " / ".join(_m(r[key]) if r else "—" for r in found)

    steady = rates(lambda p: _stage(rows, p, "off"), "steady_samples_per_s")
    plain = rates(lambda p: _plain(rows, p, "off"), "steady_samples_per_s")
    bf16 = rates(lambda p: _stage(rows, p, "bf16"), "steady_samples_per_s")
    loader = rates(lambda p: _loader(rows, p), "samples_per_s")
    return [
        (
            "train stage on an H200, batch 4096, vs bar 2.1M (MLP) / 1.8M (CNN) samples/s",
            "report",
            f"**{steady}** steady fp32 (plain loop {plain}); bf16 {bf16}; DataLoader {loader}",
            "`benchmarks/train/gpu_check.sh`",
            "[train](train.md#gpu)",
        )
    ]
