"""Multi-GPU: re-launch the stage under ``torchrun`` and set up DDP inside each worker."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DistributedRole:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DistributedRole:
        env = os.environ if env is None else env
        return cls(
            int(env.get("RANK", "0")),
            int(env.get("LOCAL_RANK", "0")),
            int(env.get("WORLD_SIZE", "1")),
        )


def needs_torchrun(gpus: int, env: Mapping[str, str] | None = None) -> bool:
    """True when more than one GPU is asked for and this process is not already a worker."""
    env = os.environ if env is None else env
    return gpus > 1 and "LOCAL_RANK" not in env


def torchrun_command(gpus: int, python: str | None = None) -> list[str]:
    """One node, ``gpus`` workers, each running this stage's module entry point. The workers
    inherit the LOCKGATE_* environment, so they read the same ``with:`` block."""
    return [
        python or sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={gpus}",
        "-m",
        "lockgate.stages.train",
    ]


def init_distributed(role: DistributedRole, device: Any) -> None:
    import torch.distributed as dist

    if role.world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)


def wrap_model(model: Any, role: DistributedRole, device: Any) -> Any:
    if role.world_size <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)
