"""Shared pieces of the training benchmarks: datasets shaped like the reference pipelines'
and the plain PyTorch loop a user would write by hand (the baseline).

Datasets are the scikit-learn sets, resampled with a little noise up to ``rows`` so that
throughput is measured over many batches; without scikit-learn, random data of the same shape.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

SHAPES = {"tabular-mlp": (30, 2), "digits-cnn": (64, 10)}  # features, classes


def synth_dataset(pipeline: str, rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    rng = np.random.default_rng(seed)
    n_features, n_classes = SHAPES[pipeline]
    try:
        from sklearn.datasets import load_breast_cancer, load_digits

        bunch = load_breast_cancer() if pipeline == "tabular-mlp" else load_digits()
        base_x = bunch.data.astype(np.float32)
        base_x = (base_x - base_x.mean(0)) / (base_x.std(0) + 1e-6)
        base_y = bunch.target.astype(np.int64)
        pick = rng.integers(0, len(base_y), size=rows)
        x = base_x[pick] + rng.normal(scale=0.05, size=(rows, n_features)).astype(np.float32)
        return x.astype(np.float32), base_y[pick], "scikit-learn (resampled)"
    except ImportError:
        y = rng.integers(0, n_classes, size=rows).astype(np.int64)
        x = rng.normal(size=(rows, n_features)).astype(np.float32)
        x[np.arange(rows), y % n_features] += 2.0
        return x, y, "synthetic (scikit-learn missing)"


def write_npz(folder: Path, pipeline: str, rows: int) -> str:
    x, y, origin = synth_dataset(pipeline, rows)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "train.npz", X=x, y=y)
    return origin


def build_model(pipeline: str, repo: Path) -> Any:
    """The reference pipeline's own model, built through its entrypoint."""
    import importlib.util

    import torch

    from lockgate.stages.train.contract import DatasetShape, TrainContext

    spec = importlib.util.spec_from_file_location(
        f"bench_{pipeline.replace('-', '_')}", repo / "pipelines" / pipeline / "model.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    n_features, n_classes = SHAPES[pipeline]
    shape = DatasetShape(0, n_features, n_classes, (), "")
    return module.build(TrainContext(torch.device("cpu"), "off", 0, {}, shape)).model


def plain_loop(
    model: Any,
    x: Any,
    y: Any,
    batch_size: int,
    epochs: int,
    amp: str,
    device: Any,
    lr: float = 1e-3,
    per_epoch: list[float] | None = None,
) -> float:
    """A hand-written loop over device-resident tensors; returns samples/s over all epochs
    (and appends each epoch's rate to ``per_epoch`` when given)."""
    import torch
    import torch.nn.functional as F

    model = model.to(device).train()
    x, y = torch.as_tensor(x).to(device), torch.as_tensor(y).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    n = len(y)
    total = 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        running = torch.zeros((), device=device)
        for idx in torch.randperm(n, device=device).split(batch_size):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            running += loss.detach().float() * len(idx)
        float(running)  # one synchronization per epoch, as the lockgate loop does
        elapsed = time.perf_counter() - start
        total += elapsed
        if per_epoch is not None:
            per_epoch.append(n / elapsed)
    return n * epochs / total


def dataloader_loop(model: Any, x: Any, y: Any, batch_size: int, epochs: int, device: Any) -> float:
    """The textbook loop: a DataLoader over host tensors (for reference)."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    model = model.to(device).train()
    loader = DataLoader(
        TensorDataset(torch.as_tensor(x), torch.as_tensor(y)), batch_size=batch_size, shuffle=True
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb.to(device)), yb.to(device))
            loss.backward()
            opt.step()
        float(loss.detach())
    return len(y) * epochs / (time.perf_counter() - start)
