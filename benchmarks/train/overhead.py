"""Overhead of lockgate's training loop over a hand-written PyTorch loop (CPU).

Both are timed in wall-clock and in this process's CPU time, with torch on one thread: on a
shared 2-core machine the wall clock swings by 10x with other load, while CPU seconds per sample
stay comparable, so the CPU-time ratio is the headline number.

Same model (the reference pipelines' own), same device-resident data, same optimizer, same batch
size; the two loops alternate, several rounds, and the medians are compared. The lockgate side
is the real ``Trainer`` with its checkpoint store (``checkpoint_every: 500``, the default)
and per-epoch validation switched off on both sides.

    python benchmarks/train/overhead.py [--rounds 5] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workloads import build_model, dataloader_loop, plain_loop, synth_dataset  # noqa: E402

CASES = [  # pipeline, rows, batch size, epochs (small: the numbers are ratios on 2 CPU cores)
    ("tabular-mlp", 65_536, 256, 4),
    ("tabular-mlp", 65_536, 4096, 8),
    ("digits-cnn", 16_384, 512, 2),
]


def lockgate_loop(model, x, y, batch: int, epochs: int, folder: Path | None) -> float:
    import torch

    from lockgate.stages.train.batches import BatchSource
    from lockgate.stages.train.checkpoint import CheckpointStore
    from lockgate.stages.train.contract import TrainPlan
    from lockgate.stages.train.loop import LoopSettings, Trainer
    from lockgate.stages.train.precision import Precision

    device = torch.device("cpu")
    source = BatchSource.build(x, y, batch, device, "device", 0)
    store = CheckpointStore(folder) if folder else None
    trainer = Trainer(
        TrainPlan(model=model),
        model,
        source,
        None,
        Precision("off", "cpu"),
        store,
        LoopSettings(epochs, 500),
        {"lr": 1e-3},
        True,
    )
    outcome = trainer.run()
    return outcome.samples_per_s


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    results = []
    for pipeline, rows, batch, epochs in CASES:
        x, y, _ = synth_dataset(pipeline, rows)
        plain, ours, plain_cpu, ours_cpu, bare_cpu = [], [], [], [], []
        samples = rows * epochs
        for r in range(args.rounds):
            torch.manual_seed(r)
            model = build_model(pipeline, REPO)
            t0 = time.process_time()
            plain.append(plain_loop(model, x, y, batch, epochs, "off", torch.device("cpu")))
            plain_cpu.append(samples / (time.process_time() - t0))
            torch.manual_seed(r)
            model = build_model(pipeline, REPO)
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.process_time()  # includes building the batch source, the trainer
                ours.append(lockgate_loop(model, x, y, batch, epochs, Path(tmp)))
                ours_cpu.append(samples / (time.process_time() - t0))  # and the checkpoints
            torch.manual_seed(r)
            model = build_model(pipeline, REPO)
            t0 = time.process_time()
            lockgate_loop(model, x, y, batch, epochs, None)
            bare_cpu.append(samples / (time.process_time() - t0))
        torch.manual_seed(0)
        loader = dataloader_loop(build_model(pipeline, REPO), x, y, batch, 1, torch.device("cpu"))
        row = {
            "pipeline": pipeline,
            "rows": rows,
            "batch_size": batch,
            "epochs": epochs,
            "plain_samples_per_s": round(statistics.median(plain)),
            "lockgate_samples_per_s": round(statistics.median(ours)),
            "dataloader_samples_per_s": round(loader),
            "plain_samples_per_cpu_s": round(statistics.median(plain_cpu)),
            "lockgate_samples_per_cpu_s": round(statistics.median(ours_cpu)),
            "lockgate_no_checkpoints_samples_per_cpu_s": round(statistics.median(bare_cpu)),
            "plain_all": [round(v) for v in plain],
            "lockgate_all": [round(v) for v in ours],
        }
        row["overhead_pct_wall"] = round(
            100 * (1 - row["lockgate_samples_per_s"] / row["plain_samples_per_s"]), 2
        )
        row["overhead_pct_cpu"] = round(
            100 * (1 - row["lockgate_samples_per_cpu_s"] / row["plain_samples_per_cpu_s"]), 2
        )
        row["overhead_pct_cpu_no_checkpoints"] = round(
            100
            * (
                1
                - row["lockgate_no_checkpoints_samples_per_cpu_s"] / row["plain_samples_per_cpu_s"]
            ),
            2,
        )
        results.append(row)
        print(json.dumps(row), flush=True)
    meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    print(json.dumps(meta))
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
