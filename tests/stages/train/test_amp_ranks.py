"""``amp: auto`` under DDP: the first worker measures, every worker trains in its choice."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")


def _worker(rank: int, world: int, init: str, folder: str, out: str) -> None:
    import torch.distributed as dist

    from lockgate.stages.train import amp_probe, setup

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        # each worker's own measurement would disagree: only the first one's may count
        mode = ("off", "bf16")[rank]
        probed: list[int] = []

        def probe(*args: object) -> amp_probe.AmpChoice:
            probed.append(rank)
            return amp_probe.AmpChoice(mode, {mode: 1000.0 + rank})

        amp_probe.probe_amp = probe  # type: ignore[assignment]
        cfg = SimpleNamespace(amp="auto", resume=True, amp_probe_steps=3)
        plan = SimpleNamespace(model=None, optimizer=None, loss=None)
        source = SimpleNamespace(device=torch.device("cpu"))
        picked = setup.choose_amp(cfg, plan, source, Path(folder), {}, True)  # type: ignore[arg-type]
        Path(out, f"rank{rank}.json").write_text(json.dumps([*picked, probed]))
    finally:
        dist.destroy_process_group()


def test_every_worker_takes_the_first_workers_choice(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    folder = tmp_path / "ckpt"
    folder.mkdir()
    init = f"file://{tmp_path / 'rendezvous'}"
    mp.spawn(_worker, args=(2, init, str(folder), str(tmp_path)), nprocs=2, join=True)
    first = json.loads((tmp_path / "rank0.json").read_text())
    second = json.loads((tmp_path / "rank1.json").read_text())
    assert first[:2] == second[:2] and first[0] == "off"
    assert first[2] == [0] and second[2] == []  # the second worker did not measure
    recorded = json.loads((folder / "amp-choice.json").read_text())
    assert recorded["mode"] == "off"
