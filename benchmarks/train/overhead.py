"""Overhead of lockgate's training loop over a hand-written PyTorch loop (CPU).

    python -m benchmarks.train.overhead [--rounds 12] [--threads 1] [--tiny]

Every side trains the reference pipelines' own model on the same data, with the same optimizer
(AdamW) and batch size, one epoch count per case:

- ``plain``: the loop an engineer writes by hand over device-resident tensors
  (:func:`workloads.plain_loop`: ``torch.randperm(...).split(batch)``, index, step, one
  synchronization per epoch);
- ``lockgate``: the real ``Trainer`` over a ``BatchSource`` with its checkpoint store at the
  default ``checkpoint_every: 500`` (so including its final atomic checkpoint); per-epoch
  validation is off on both sides;
- ``lockgate_no_checkpoints``: the same ``Trainer`` without a store;
- ``dataloader``: the textbook loop, a ``DataLoader`` over host tensors
  (:func:`workloads.dataloader_loop`), for reference.

Each run (the model built before the clock starts; then the epochs, and for lockgate building
its batch source and trainer and writing its checkpoints) is timed in this process's CPU seconds
and in wall seconds, with torch on one thread by default: on a shared 2-core machine the wall
clock swings by several times with other load, while CPU seconds per sample stay comparable,
so samples per CPU-second is the headline. The sides run in rotating rounds after one
warm-up of each (:func:`result_file.alternate`: each round starts one side later, so no side
always runs first or after the same other side); every side of a round starts from the same
seed. Writes ``benchmarks/results/train-overhead.json``: each side's raw CPU and wall seconds and
its loop's own samples/s per round, the medians, the torch version and threads, the load average
before and after. ``--tiny`` runs small sizes
(seconds, for a trial of the script, not for publishing).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(HERE)]

from workloads import build_model, dataloader_loop, plain_loop, synth_dataset  # noqa: E402

from benchmarks.result_file import alternate, load, write  # noqa: E402

# pipeline, rows, batch size, epochs: small, since the numbers are ratios on 2 CPU cores
CASES = [
    ("tabular-mlp", 65_536, 256, 4),
    ("tabular-mlp", 65_536, 4096, 8),
    ("digits-cnn", 16_384, 512, 2),
]
TINY_CASES = [
    ("tabular-mlp", 2_048, 256, 1),
    ("tabular-mlp", 8_192, 4096, 1),
    ("digits-cnn", 512, 512, 1),
]
SIDES = ("plain", "lockgate", "lockgate_no_checkpoints", "dataloader")
CHECKPOINT_EVERY = 500  # the train stage's default


def lockgate_loop(
    model: Any, x: Any, y: Any, batch: int, epochs: int, folder: Path | None
) -> float:
    """lockgate's ``Trainer`` on the CPU, checkpointing into ``folder`` (none without one);
    returns the samples/s the trainer reports."""
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
        LoopSettings(epochs, CHECKPOINT_EVERY),
        {"lr": 1e-3},
        True,
    )
    return float(trainer.run().samples_per_s)


@dataclass
class Side:
    """One side of a case for :func:`result_file.alternate`: each call builds a fresh model from
    the call's seed, runs ``train`` on it and returns the CPU seconds it took, keeping the wall
    seconds and the loop's own samples/s of every call (warm-up included)."""

    pipeline: str
    train: Callable[[Any], float]  # model -> the loop's own samples/s
    wall_s: list[float] = field(default_factory=list)
    loop_samples_per_s: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        import torch

        torch.manual_seed(len(self.wall_s))  # the same seed for every side of a round
        model = build_model(self.pipeline, REPO)
        cpu, wall = time.process_time(), time.perf_counter()
        rate = self.train(model)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        self.wall_s.append(round(wall, 4))
        self.loop_samples_per_s.append(round(rate))
        return round(cpu, 4)


def sides(pipeline: str, x: Any, y: Any, batch: int, epochs: int) -> dict[str, Side]:
    """The four loops of one case, each behind a :class:`Side`."""
    import torch

    cpu = torch.device("cpu")

    def checkpointed(model: Any) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            return lockgate_loop(model, x, y, batch, epochs, Path(tmp))

    loops: dict[str, Callable[[Any], float]] = {
        "plain": lambda model: plain_loop(model, x, y, batch, epochs, "off", cpu),
        "lockgate": checkpointed,
        "lockgate_no_checkpoints": lambda model: lockgate_loop(model, x, y, batch, epochs, None),
        "dataloader": lambda model: dataloader_loop(model, x, y, batch, epochs, cpu),
    }
    return {name: Side(pipeline, loops[name]) for name in SIDES}


def overhead_pct(ours: float, plain: float) -> float:
    """How much lower lockgate's rate is than the plain loop's, in percent (negative: higher)."""
    return round(100 * (1 - ours / plain), 2)


def measure(
    pipeline: str, rows: int, batch: int, epochs: int, rounds: int, warmup: int
) -> dict[str, Any]:
    """One case: every side's raw timings, their medians and lockgate's overhead."""
    x, y, origin = synth_dataset(pipeline, rows)
    samples = rows * epochs
    case = sides(pipeline, x, y, batch, epochs)
    cpu_s = alternate(case, repeat=rounds, warmup=warmup, rotate=True)
    raw = {
        name: {
            "cpu_s": cpu_s[name],
            "wall_s": side.wall_s[warmup:],
            "loop_samples_per_s": side.loop_samples_per_s[warmup:],
        }
        for name, side in case.items()
    }
    medians = {
        name: {
            "samples_per_cpu_s": round(statistics.median(samples / s for s in r["cpu_s"])),
            "samples_per_wall_s": round(statistics.median(samples / s for s in r["wall_s"])),
            "loop_samples_per_s": round(statistics.median(r["loop_samples_per_s"])),
        }
        for name, r in raw.items()
    }
    plain = medians["plain"]
    model = build_model(pipeline, REPO)
    return {
        "pipeline": pipeline,
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": origin,
        "rows": rows,
        "batch_size": batch,
        "epochs": epochs,
        "samples": samples,
        "raw": raw,
        "median": medians,
        "overhead_pct_cpu": overhead_pct(
            medians["lockgate"]["samples_per_cpu_s"], plain["samples_per_cpu_s"]
        ),
        "overhead_pct_cpu_no_checkpoints": overhead_pct(
            medians["lockgate_no_checkpoints"]["samples_per_cpu_s"], plain["samples_per_cpu_s"]
        ),
        "overhead_pct_wall": overhead_pct(
            medians["lockgate"]["samples_per_wall_s"], plain["samples_per_wall_s"]
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12, help="timed rounds after the warm-up")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--tiny", action="store_true", help="small sizes, for a trial run")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    before = load()
    cases = []
    for pipeline, rows, batch, epochs in TINY_CASES if args.tiny else CASES:
        case = measure(pipeline, rows, batch, epochs, args.rounds, warmup=1)
        cases.append(case)
        print(json.dumps({k: v for k, v in case.items() if k != "raw"}), flush=True)
    payload = {
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "rounds": args.rounds,
        "warmup": 1,
        "rotated": True,
        "checkpoint_every": CHECKPOINT_EVERY,
        "tiny": args.tiny,
        "cases": cases,
        "load_average_before": before,
        "load_average_after": load(),
    }
    print(write("train-overhead", payload, packages=("torch", "numpy", "scikit-learn")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
