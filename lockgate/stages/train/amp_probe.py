"""``amp: auto``: time a few real steps in full and in reduced precision, keep the faster.

Mixed precision is not always a win: for small models the casts cost more than the matmuls
save. The probe trains throw-away copies of the model on the first batches, so the real run
starts from the same weights and RNG state whatever it picks.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lockgate.stages.train.batches import BatchSource
from lockgate.stages.train.checkpoint import capture_rng, restore_rng
from lockgate.stages.train.precision import Precision

WARMUP_STEPS = 3
BUDGET_S = 3.0  # per precision: a big model on a slow device stops early (min 3 steps)


@dataclass(frozen=True)
class AmpChoice:
    mode: str
    samples_per_s: dict[str, float]  # per candidate mode

    def summary(self) -> str:
        rates = ", ".join(f"{m}: {r:,.0f} samples/s" for m, r in self.samples_per_s.items())
        return f"amp auto picked {self.mode} ({rates})"


def reduced_mode(device: Any) -> str:
    import torch

    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "fp16"
    return "bf16"


def _time_mode(
    mode: str,
    model: Any,
    make_optimizer: Callable[[Any], Any],
    loss_fn: Callable[[Any, Any], Any],
    source: BatchSource,
    steps: int,
) -> float:
    precision = Precision(mode, source.device.type)
    probe = copy.deepcopy(model)
    probe.train()
    optimizer = make_optimizer(probe.parameters())
    scaler = precision.grad_scaler()

    def one(xb: Any, yb: Any) -> None:
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            loss = loss_fn(probe(xb), yb)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    return time_steps(one, source, steps, WARMUP_STEPS)


def time_steps(
    one: Callable[[Any, Any], Any], source: BatchSource, steps: int, warmup: int
) -> float:
    """Samples/s of ``one`` over ``steps`` batches (at most about ``BUDGET_S`` seconds, at least
    3 steps) after ``warmup`` untimed ones, the device synchronized at both ends."""
    import torch

    device = source.device
    batches = probe_batches(source, steps + warmup)
    for _, (xb, yb) in zip(range(warmup), batches, strict=False):
        one(xb, yb)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    samples = 0
    for i, (xb, yb) in enumerate(batches):
        one(xb, yb)
        samples += len(yb)
        if i >= 2 and time.perf_counter() - start > BUDGET_S:
            break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - start
    return samples / elapsed if elapsed > 0 else 0.0


def probe_batches(source: BatchSource, count: int) -> Iterator[tuple[Any, Any]]:
    """The first ``count`` batches of the run's epochs 0, 1, ..., gathered one at a time (one
    batch in memory, not ``count``): the same ones for each precision. A source with no batch
    (a worker with no rows) yields none rather than looping."""
    epoch, given = 0, 0
    while given < count:
        before = given
        for batch in source.epoch(epoch):
            yield batch
            given += 1
            if given == count:
                return
        if given == before:
            return
        epoch += 1


def probe_amp(
    model: Any,
    make_optimizer: Callable[[Any], Any],
    loss_fn: Callable[[Any, Any], Any],
    source: BatchSource,
    steps: int,
) -> AmpChoice:
    """Time ``steps`` steps (after a warm-up; at most about ``BUDGET_S`` seconds each) in "off"
    and the device's reduced precision."""
    device = source.device
    rng = capture_rng(device)
    reduced = reduced_mode(device)
    rates = {
        m: _time_mode(m, model, make_optimizer, loss_fn, source, steps) for m in ("off", reduced)
    }
    restore_rng(rng, device)
    return AmpChoice(max(rates, key=lambda m: rates[m]), rates)
