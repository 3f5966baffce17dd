"""GPU check of the train stage: both reference models, device-resident data, batch 4096, bf16
autocast on and off (and ``amp: auto``), each capture mode (``off``, ``compile``, ``cuda-graph``),
each run as its own process through the local-executor contract (LOCKGATE_* variables), next to
a hand-written PyTorch loop on the same model and data: in this process (samples/s, peak GPU
memory) and as its own process (wall time from start to exit, torch import, CUDA start and data
load included, as the stage process's wall is).

    python3 benchmarks/train/gpu_check.py OUTDIR [--rows N] [--epochs N]

Prints one JSON object per measurement and writes them all to OUTDIR/gpu_check.json. Needs
torch and numpy; scikit-learn and MLflow are optional (tracking is off here).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workloads import (  # noqa: E402
    build_model,
    dataloader_loop,
    plain_loop,
    synth_dataset,
    write_npz,
)

PIPELINES = ("tabular-mlp", "digits-cnn")
BATCH = 4096
CAPTURES = ("off", "compile", "cuda-graph", "auto")  # auto measures off against cuda-graph
PLAIN_AMPS = ("off", "bf16")  # the plain loop's precisions; the stage's ``auto`` picks one
ALL_RUNS = [
    *((amp, capture) for amp in PLAIN_AMPS for capture in CAPTURES[:3]),
    ("auto", "off"),
    ("off", "auto"),
]


def _run(text: str) -> tuple[str, str]:
    amp, _, capture = text.partition(":")
    if amp not in (*PLAIN_AMPS, "auto") or capture not in CAPTURES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: write AMP:CAPTURE, AMP one of off, bf16, auto and CAPTURE one of "
            + ", ".join(CAPTURES)
        )
    return amp, capture


PLAIN_PROCESS = """
import sys, time
sys.path[:0] = [{repo!r}, {here!r}]
import numpy as np
import torch
from workloads import build_model, plain_loop
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
with np.load({data!r}) as arrays:  # the file the stage reads: the same data load
    x, y = arrays["X"], arrays["y"]
torch.manual_seed(0)
plain_loop(build_model({pipeline!r}, {repo_path}), x, y, {batch}, {epochs}, {amp!r}, device)
"""


def plain_process(out: Path, pipeline: str, amp: str, rows: int, epochs: int) -> float:
    """Wall seconds of the plain loop as its own process: import, CUDA start, loading the npz
    file the stage reads (``rows`` rows, written by :func:`workloads.write_npz`), epochs."""
    data = out / pipeline / "in" / "prepare" / "train.npz"
    with np.load(data) as arrays:
        assert len(arrays["y"]) == rows, f"{data} holds {len(arrays['y'])} rows, not {rows}"
    code = plain_code(out, pipeline, amp, epochs)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=out)
    return round(time.perf_counter() - start, 2)


def plain_code(out: Path, pipeline: str, amp: str, epochs: int) -> str:
    """The plain loop's script, reading the npz file the stage reads."""
    data = out / pipeline / "in" / "prepare" / "train.npz"
    return PLAIN_PROCESS.format(
        repo=str(REPO),
        here=str(Path(__file__).resolve().parent),
        pipeline=pipeline,
        data=str(data),
        repo_path=f"__import__('pathlib').Path({str(REPO)!r})",
        batch=BATCH,
        epochs=epochs,
        amp=amp,
    )


def emit(results: list[dict], sink: Path, row: dict) -> None:
    """Print a measurement and rewrite the JSON file, so a killed run keeps what it measured."""
    results.append(row)
    print(json.dumps(row), flush=True)
    sink.write_text(json.dumps(results, indent=2) + "\n")


def earlier_rows(
    sink: Path, env: dict, pipelines: list[str], runs: list[tuple[str, str]]
) -> list[dict]:
    """The rows an earlier run wrote to ``sink`` that this one does not measure again, when it
    ran on the same device and torch with the same sizes: a run cut short is finished, not
    started over. Its ratios are dropped; they are worked out again from all the rows."""
    if not sink.is_file():
        return []
    rows: list[dict] = json.loads(sink.read_text())
    before = next((r for r in rows if r["what"] == "environment"), {})
    if any(before.get(k) != env[k] for k in ("device", "torch", "rows", "epochs", "batch_size")):
        print(f"gpu_check: {sink} is from another device or settings; starting over", flush=True)
        return []
    again = {(p, amp, capture) for p in pipelines for amp, capture in runs}

    def kept(r: dict) -> bool:
        if r["what"] in ("environment", "ratio"):
            return False
        if r["what"] == "lockgate-stage":
            return (r["pipeline"], r["amp_setting"], r["capture_setting"]) not in again
        if r["what"] == "plain-pytorch-loop":
            return not any(r["pipeline"] == p and r["amp"] == amp for p, amp, _ in again)
        return r.get("pipeline") not in pipelines  # its data and DataLoader rows are new

    return [r for r in rows if kept(r)]


def steady(rates: list[float]) -> float:
    """Median per-epoch rate after the first epoch (which pays kernel loading, cuBLAS setup)."""
    later = rates[1:] or rates
    return round(statistics.median(later), 1) if later else 0.0


def run_stage(
    out: Path,
    pipeline: str,
    amp: str,
    epochs: int,
    timeout: int,
    capture: str = "off",
    flags: tuple[str, ...] = (),
    lockgate: Path = REPO,
) -> dict:
    """One train-stage process, exactly as the local executor would start it (``flags``: the
    interpreter's own, e.g. ``-X importtime``; its whole stderr is then kept; ``lockgate``: the
    checkout whose stage runs, this one unless another is compared)."""
    stage_out = out / pipeline / f"train-{amp}-{capture}"
    with_ = {
        "entrypoint": "model:build",
        "epochs": epochs,
        "batch_size": BATCH,
        "amp": amp,
        "capture": capture,
        "data": {"train": "in:prepare/train.npz", "placement": "device"},
        "tracking": "off",
        "resume": False,
        "checkpoint_every": 10**9,
        "checkpoint_dir": str(out / pipeline / f"ckpt-{amp}-{capture}"),
        "amp_probe_steps": 20,
    }
    env = {
        **os.environ,
        "LOCKGATE_WORKSPACE": str(REPO / "pipelines" / pipeline),
        "LOCKGATE_IN": str(out / pipeline / "in"),
        "LOCKGATE_OUT": str(stage_out),
        "LOCKGATE_STATE": str(out / "state"),
        "LOCKGATE_STAGE": "train",
        "LOCKGATE_RUN_ID": f"gpu-check-{pipeline}-{amp}-{capture}",
        "LOCKGATE_WITH": json.dumps(with_),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(lockgate), os.environ.get("PYTHONPATH")])),
    }
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *flags, "-m", "lockgate.stages.train"],
        env=env,
        cwd=out,  # not a checkout: `-m` puts the working folder first on the module path
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.perf_counter() - start
    row = {
        "what": "lockgate-stage",
        "pipeline": pipeline,
        "amp_setting": amp,
        "capture_setting": capture,
        "rc": done.returncode,
        "process_wall_s": round(wall, 2),
        "started_at": started_at,  # which call measured it, in a file that calls finished
    }
    if flags:
        row["stderr"] = done.stderr
    if done.returncode != 0:
        row["stderr_tail"] = done.stderr[-1500:]
        return row
    metrics = json.loads((stage_out / "metrics.json").read_text())
    history = json.loads((stage_out / "history.json").read_text())
    row.update(
        {
            "amp_used": metrics["amp"],
            "samples_per_s": metrics["samples_per_s"],
            "steady_samples_per_s": steady([h["samples_per_s"] for h in history]),
            "global_step": metrics["global_step"],
            "train_loss": metrics.get("train_loss"),
            "capture": metrics.get("capture"),
            # compiling or capturing the step, once: inside wall, outside samples_per_s
            "capture_seconds": metrics.get("capture_seconds", 0.0),
            "peak_gpu_memory_mib": metrics.get("peak_gpu_memory_mib"),
        }
    )
    choice = out / pipeline / f"ckpt-{amp}-{capture}" / "amp-choice.json"
    if choice.is_file():
        row["amp_probe"] = json.loads(choice.read_text())["note"]
    return row


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--timeout", type=int, default=150, help="seconds per stage process")
    parser.add_argument(
        "--pipelines", nargs="+", choices=PIPELINES, default=list(PIPELINES), metavar="NAME"
    )
    parser.add_argument(
        "--runs",
        nargs="+",
        type=_run,
        default=ALL_RUNS,
        metavar="AMP:CAPTURE",
        help="the stage runs to measure (default: all), e.g. off:cuda-graph bf16:compile: to "
        "finish a run cut short, into the same OUTDIR (the rows it has are kept)",
    )
    args = parser.parse_args()
    import torch

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    rows = args.rows or (262_144 if cuda else 8_192)
    epochs = args.epochs or (20 if cuda else 2)
    out = args.outdir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    sink = out / "gpu_check.json"
    environment = {
        "what": "environment",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "rows": rows,
        "epochs": epochs,
        "batch_size": BATCH,
    }
    results = earlier_rows(sink, environment, args.pipelines, args.runs)
    emit(results, sink, environment)
    for pipeline in args.pipelines:
        origin = write_npz(out / pipeline / "in" / "prepare", pipeline, rows)
        emit(results, sink, {"what": "data", "pipeline": pipeline, "origin": origin, "rows": rows})
        for amp, capture in args.runs:
            try:
                emit(results, sink, run_stage(out, pipeline, amp, epochs, args.timeout, capture))
            except subprocess.TimeoutExpired:
                emit(
                    results,
                    sink,
                    {
                        "what": "lockgate-stage",
                        "pipeline": pipeline,
                        "amp_setting": amp,
                        "capture_setting": capture,
                        "rc": "timeout",
                    },
                )
        x, y, _ = synth_dataset(pipeline, rows)
        named = {amp for amp, _ in args.runs}
        for amp in [a for a in PLAIN_AMPS if a in named]:
            torch.manual_seed(0)
            rates: list[float] = []
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            rate = plain_loop(
                build_model(pipeline, REPO), x, y, BATCH, epochs, amp, device, per_epoch=rates
            )
            peak = round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None
            emit(
                results,
                sink,
                {
                    "what": "plain-pytorch-loop",
                    "pipeline": pipeline,
                    "amp": amp,
                    "samples_per_s": round(rate, 1),
                    "steady_samples_per_s": steady(rates),
                    "peak_gpu_memory_mib": peak,
                    "process_wall_s": plain_process(out, pipeline, amp, rows, epochs),
                },
            )
        torch.manual_seed(0)
        rate = dataloader_loop(build_model(pipeline, REPO), x, y, BATCH, 1, device)
        emit(
            results,
            sink,
            {
                "what": "dataloader-loop",
                "pipeline": pipeline,
                "amp": "off",
                "samples_per_s": round(rate, 1),
            },
        )
    stage = {
        (r["pipeline"], r["amp_setting"], r["capture_setting"]): r
        for r in results
        if r["what"] == "lockgate-stage" and r.get("rc") == 0
    }
    for r in [r for r in results if r["what"] == "plain-pytorch-loop"]:
        for capture in CAPTURES:
            ours = stage.get((r["pipeline"], r["amp"], capture))
            if not ours:
                continue
            emit(
                results,
                sink,
                {
                    "what": "ratio",
                    "pipeline": r["pipeline"],
                    "amp": r["amp"],
                    "capture": capture,
                    "stage_over_plain": round(ours["samples_per_s"] / r["samples_per_s"], 3),
                    "steady_stage_over_plain": round(
                        ours["steady_samples_per_s"] / max(r["steady_samples_per_s"], 1e-9), 3
                    ),
                    "process_wall_stage_over_plain": round(
                        ours["process_wall_s"] / max(r["process_wall_s"], 1e-9), 3
                    ),
                    "peak_memory_stage_over_plain": (
                        round(ours["peak_gpu_memory_mib"] / r["peak_gpu_memory_mib"], 3)
                        if ours.get("peak_gpu_memory_mib") and r.get("peak_gpu_memory_mib")
                        else None
                    ),
                },
            )
    failed = [r for r in results if r["what"] == "lockgate-stage" and r.get("rc") != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
