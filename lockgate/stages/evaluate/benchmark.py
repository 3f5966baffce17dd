"""Inference latency and throughput of the packaged model at a few batch sizes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LatencyResult:
    batch_size: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    samples_per_s: float


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile of an ascending sequence (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def benchmark_inference(
    model: Any, features: Any, device: Any, batch_sizes: Sequence[int], iterations: int, warmup: int
) -> list[LatencyResult]:
    """Time ``model(batch)`` end to end (host batch in, device synchronized) per batch size.
    Batches larger than the holdout set are filled by repeating its rows."""
    import torch

    model = model.to(device).eval()
    pool = torch.as_tensor(features)
    results = []
    for size in batch_sizes:
        reps = -(-size // len(pool))
        batch = pool.repeat((reps,) + (1,) * (pool.dim() - 1))[:size].contiguous()
        times = []
        with torch.inference_mode():
            for i in range(warmup + iterations):
                start = time.perf_counter()
                out = model(batch.to(device, non_blocking=False))
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                else:
                    out.sum().item()
                if i >= warmup:
                    times.append(time.perf_counter() - start)
        times.sort()
        total = sum(times)
        results.append(
            LatencyResult(
                size,
                percentile(times, 50) * 1e3,
                percentile(times, 95) * 1e3,
                percentile(times, 99) * 1e3,
                size * len(times) / total if total > 0 else 0.0,
            )
        )
    return results
