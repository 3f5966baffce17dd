"""Start-up of the train stage as a process, against a plain PyTorch script as a process.

    python benchmarks/train/startup.py [--rows 8192] [--epochs 2] [--repeat 5] [--baseline DIR]

Both reference models, on this machine's device (the CPU where there is no GPU). Each side is a
fresh process timed from start to exit, in alternating rounds after one warm-up:

- ``stage``: ``python -m lockgate.stages.train`` started through the stage contract exactly as
  the local executor starts it (:func:`gpu_check.run_stage`: ``LOCKGATE_*`` variables, data
  placed on the device, tracking off, no checkpoint until the end), which also writes its
  outputs: the model, model card, metrics, history, training curve and report;
- ``stage_before`` (with ``--baseline CHECKOUT``): the same stage process from an earlier
  lockgate checkout (what it cost before a change), on the same data in the same rounds;
- ``plain``: a script that imports torch, loads the same ``.npz`` file, builds the same model
  through the pipeline's own entrypoint and runs the same epochs with AdamW
  (:func:`gpu_check.plain_process`), and writes nothing.

Then where each side's time goes, from one more process of each run with ``-X importtime``: the
seconds spent importing (every top-level import, lazy ones included), and the rest (data, model,
epochs, outputs). Writes ``benchmarks/results/train-startup.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(HERE)]

import gpu_check  # noqa: E402
from workloads import write_npz  # noqa: E402

from benchmarks.result_file import alternate, baseline_name, load, write  # noqa: E402

PIPELINES = ("tabular-mlp", "digits-cnn")


def import_seconds(stderr: str) -> tuple[float, dict[str, float]]:
    """Total seconds of the top-level imports in ``-X importtime`` output, and the largest."""
    top: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if name.startswith(" " * 2) or not cumulative.strip().isdigit():
            continue  # nested under another import (or the header line)
        top[name.strip()] = top.get(name.strip(), 0.0) + int(cumulative) / 1e6
    largest = dict(sorted(top.items(), key=lambda kv: -kv[1])[:6])
    return round(sum(top.values()), 3), {k: round(v, 3) for k, v in largest.items()}


def stage_imports(out: Path, pipeline: str, epochs: int) -> tuple[float, dict[str, float]]:
    """One stage process run with ``-X importtime``."""
    row = gpu_check.run_stage(out, pipeline, "off", epochs, 600, flags=("-X", "importtime"))
    if row["rc"] != 0:
        raise SystemExit(f"stage {pipeline} failed: {row.get('stderr_tail')}")
    return import_seconds(row["stderr"])


def plain_imports(out: Path, pipeline: str, epochs: int) -> tuple[float, dict[str, float]]:
    """One plain-script process run with ``-X importtime``."""
    code = gpu_check.plain_code(out, pipeline, "off", epochs)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        cwd=out,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"plain {pipeline} failed: {done.stderr[-1500:]}")
    return import_seconds(done.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8192)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="an earlier lockgate checkout to compare")
    args = parser.parse_args()
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    before = load()
    models: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for pipeline in PIPELINES:
            origin = write_npz(out / pipeline / "in" / "prepare", pipeline, args.rows)

            def stage(p: str = pipeline, checkout: Path = REPO) -> float:
                row = gpu_check.run_stage(out, p, "off", args.epochs, 600, lockgate=checkout)
                if row["rc"] != 0:
                    raise SystemExit(f"stage {p} failed: {row.get('stderr_tail')}")
                return float(row["process_wall_s"])

            def plain(p: str = pipeline) -> float:
                return gpu_check.plain_process(out, p, "off", args.rows, args.epochs)

            sides = {"stage": stage, "plain": plain}
            if args.baseline:
                sides["stage_before"] = lambda p=pipeline: stage(p, args.baseline.resolve())
            raw = alternate(sides, repeat=args.repeat)
            medians = {side: statistics.median(v) for side, v in raw.items()}
            stage_import, stage_top = stage_imports(out, pipeline, args.epochs)
            plain_import, plain_top = plain_imports(out, pipeline, args.epochs)
            models[pipeline] = {
                "data": origin,
                "raw_s": raw,
                "median_s": {k: round(v, 3) for k, v in medians.items()},
                "stage_over_plain": round(medians["stage"] / medians["plain"], 3),
                **(
                    {
                        "stage_before_over_plain": round(
                            medians["stage_before"] / medians["plain"], 3
                        )
                    }
                    if args.baseline
                    else {}
                ),
                "imports_s": {"stage": stage_import, "plain": plain_import},
                "largest_imports_s": {"stage": stage_top, "plain": plain_top},
            }
            print(pipeline, json.dumps(models[pipeline]), flush=True)
    write(
        "train-startup",
        {
            "device": device,
            "rows": args.rows,
            "epochs": args.epochs,
            "batch_size": gpu_check.BATCH,
            "repeat": args.repeat,
            "torch_threads": torch.get_num_threads(),
            "baseline": baseline_name(args.baseline) if args.baseline else None,
            "models": models,
            "load_average_before": before,
            "load_average_after": load(),
        },
        packages=("torch", "numpy"),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
