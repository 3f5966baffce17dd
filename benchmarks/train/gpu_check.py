"""GPU check of the train stage: both reference models, device-resident data, batch 4096, bf16
autocast on and off (and ``amp: auto``), each run as its own process through the local-executor
contract (LOCKGATE_* variables), next to a hand-written PyTorch loop on the same model and data.

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
from pathlib import Path

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


def emit(results: list[dict], sink: Path, row: dict) -> None:
    """Print a measurement and rewrite the JSON file, so a killed run keeps what it measured."""
    results.append(row)
    print(json.dumps(row), flush=True)
    sink.write_text(json.dumps(results, indent=2) + "\n")


def steady(rates: list[float]) -> float:
    """Median per-epoch rate after the first epoch (which pays kernel loading, cuBLAS setup)."""
    later = rates[1:] or rates
    return round(statistics.median(later), 1) if later else 0.0


def run_stage(out: Path, pipeline: str, amp: str, epochs: int, timeout: int) -> dict:
    """One train-stage process, exactly as the local executor would start it."""
    stage_out = out / pipeline / f"train-{amp}"
    with_ = {
        "entrypoint": "model:build",
        "epochs": epochs,
        "batch_size": BATCH,
        "amp": amp,
        "data": {"train": "in:prepare/train.npz", "placement": "device"},
        "tracking": "off",
        "resume": False,
        "checkpoint_every": 10**9,
        "checkpoint_dir": str(out / pipeline / f"ckpt-{amp}"),
        "amp_probe_steps": 20,
    }
    env = {
        **os.environ,
        "LOCKGATE_WORKSPACE": str(REPO / "pipelines" / pipeline),
        "LOCKGATE_IN": str(out / pipeline / "in"),
        "LOCKGATE_OUT": str(stage_out),
        "LOCKGATE_STATE": str(out / "state"),
        "LOCKGATE_STAGE": "train",
        "LOCKGATE_RUN_ID": f"gpu-check-{pipeline}-{amp}",
        "LOCKGATE_WITH": json.dumps(with_),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "lockgate.stages.train"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.perf_counter() - start
    row = {
        "what": "lockgate-stage",
        "pipeline": pipeline,
        "amp_setting": amp,
        "rc": done.returncode,
        "process_wall_s": round(wall, 2),
    }
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
        }
    )
    choice = out / pipeline / f"ckpt-{amp}" / "amp-choice.json"
    if choice.is_file():
        row["amp_probe"] = json.loads(choice.read_text())["note"]
    return row


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--timeout", type=int, default=150, help="seconds per stage process")
    args = parser.parse_args()
    import torch

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    rows = args.rows or (262_144 if cuda else 8_192)
    epochs = args.epochs or (20 if cuda else 2)
    out = args.outdir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    sink = out / "gpu_check.json"
    emit(
        results,
        sink,
        {
            "what": "environment",
            "python": platform.python_version(),
            "torch": torch.__version__,
            "device": torch.cuda.get_device_name(0) if cuda else "cpu",
            "rows": rows,
            "epochs": epochs,
            "batch_size": BATCH,
        },
    )
    for pipeline in PIPELINES:
        origin = write_npz(out / pipeline / "in" / "prepare", pipeline, rows)
        emit(results, sink, {"what": "data", "pipeline": pipeline, "origin": origin, "rows": rows})
        for amp in ("off", "bf16", "auto"):
            try:
                emit(results, sink, run_stage(out, pipeline, amp, epochs, args.timeout))
            except subprocess.TimeoutExpired:
                emit(
                    results,
                    sink,
                    {
                        "what": "lockgate-stage",
                        "pipeline": pipeline,
                        "amp_setting": amp,
                        "rc": "timeout",
                    },
                )
        x, y, _ = synth_dataset(pipeline, rows)
        for amp in ("off", "bf16"):
            torch.manual_seed(0)
            rates: list[float] = []
            rate = plain_loop(
                build_model(pipeline, REPO), x, y, BATCH, epochs, amp, device, per_epoch=rates
            )
            emit(
                results,
                sink,
                {
                    "what": "plain-pytorch-loop",
                    "pipeline": pipeline,
                    "amp": amp,
                    "samples_per_s": round(rate, 1),
                    "steady_samples_per_s": steady(rates),
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
        (r["pipeline"], r["amp_setting"]): r
        for r in results
        if r["what"] == "lockgate-stage" and r.get("rc") == 0
    }
    for r in [r for r in results if r["what"] == "plain-pytorch-loop"]:
        ours = stage.get((r["pipeline"], r["amp"]))
        if ours:
            emit(
                results,
                sink,
                {
                    "what": "ratio",
                    "pipeline": r["pipeline"],
                    "amp": r["amp"],
                    "stage_over_plain": round(ours["samples_per_s"] / r["samples_per_s"], 3),
                    "steady_stage_over_plain": round(
                        ours["steady_samples_per_s"] / max(r["steady_samples_per_s"], 1e-9), 3
                    ),
                },
            )
    failed = [r for r in results if r["what"] == "lockgate-stage" and r.get("rc") != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
