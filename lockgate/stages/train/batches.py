"""Minibatches without a DataLoader.

When the training set fits in device memory it is copied there once and every batch is an
index into it, drawn from a per-epoch permutation made on the device. Otherwise the tensors stay
in pinned host memory and each batch is gathered on the host and copied asynchronously. Both
give the same sequence of samples for a seed, so a resumed run sees the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DEVICE_MEMORY_SHARE = 0.5  # keep data on the GPU only if it needs at most this share of free memory


def fits_on_device(nbytes: int, device: Any) -> bool:
    import torch

    if device.type != "cuda":
        return True  # host memory is the device: the tensors are already there
    free, _total = torch.cuda.mem_get_info(device)
    return nbytes <= free * DEVICE_MEMORY_SHARE


@dataclass(frozen=True)
class BatchSource:
    features: Any  # torch tensor, on ``home`` device
    target: Any
    batch_size: int
    device: Any  # where batches are consumed
    seed: int
    rank: int = 0
    world_size: int = 1

    @classmethod
    def build(
        cls,
        features: Any,
        target: Any,
        batch_size: int,
        device: Any,
        placement: str,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> BatchSource:
        import torch

        x = torch.as_tensor(features)
        y = torch.as_tensor(target)
        nbytes = x.element_size() * x.nelement() + y.element_size() * y.nelement()
        on_device = placement == "device" or (
            placement == "auto" and fits_on_device(nbytes, device)
        )
        if on_device:
            x, y = x.to(device), y.to(device)
        elif device.type == "cuda":
            x, y = x.pin_memory(), y.pin_memory()
        return cls(x, y, batch_size, device, seed, rank, world_size)

    @property
    def resident(self) -> bool:
        return self.features.device == self.device or self.device.type == "cpu"

    @property
    def n_samples(self) -> int:
        return int(self.features.shape[0])

    def steps_per_epoch(self) -> int:
        per_rank = -(-self.n_samples // self.world_size)
        return -(-per_rank // self.batch_size)

    def permutation(self, epoch: int) -> Any:
        """This rank's sample order for ``epoch``: a function of (seed, epoch) only."""
        import torch

        home = self.features.device
        gen = torch.Generator(device=home)
        gen.manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(self.n_samples, generator=gen, device=home)
        pad = -len(order) % self.world_size
        if pad:  # equal shares, so every rank takes the same number of steps; as PyTorch's
            # DistributedSampler, the first samples of the order fill the last shares: none is
            # dropped, up to world_size - 1 are seen twice in the epoch
            order = torch.cat([order, order[:pad]])
        return order[self.rank :: self.world_size]

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[Any, Any]]:
        """Batches of ``epoch``, skipping the first ``start_step`` (for a resumed run)."""
        order = self.permutation(epoch)
        copy = self.features.device != self.device
        for start in range(start_step * self.batch_size, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            xb, yb = self.features[idx], self.target[idx]
            if copy:
                xb = xb.to(self.device, non_blocking=True)
                yb = yb.to(self.device, non_blocking=True)
            yield xb, yb

    def all(self, chunk: int = 8192) -> Iterator[tuple[Any, Any]]:
        """Every sample in order (for evaluation)."""
        for start in range(0, self.n_samples, chunk):
            xb = self.features[start : start + chunk].to(self.device, non_blocking=True)
            yb = self.target[start : start + chunk].to(self.device, non_blocking=True)
            yield xb, yb
