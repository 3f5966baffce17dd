"""torchrun is only built here: no machine with several GPUs is available to run it."""

from __future__ import annotations

import sys

from lockgate.stages.train.launch import DistributedRole, needs_torchrun, torchrun_command


def test_torchrun_only_for_several_gpus_outside_a_worker() -> None:
    assert needs_torchrun(2, {})
    assert not needs_torchrun(1, {})
    assert not needs_torchrun(4, {"LOCAL_RANK": "0"})
    assert torchrun_command(4) == [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=4",
        "-m",
        "lockgate.stages.train",
    ]
    role = DistributedRole.from_env({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"})
    assert (role.rank, role.local_rank, role.world_size, role.is_chief) == (3, 1, 4, False)
