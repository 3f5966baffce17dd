"""The training loop reads nothing back from the device per step.

A host read of a tensor (``.item()``, ``float()``, ``.cpu()``, ``.tolist()``...) waits for every
queued kernel, so one per step stalls a GPU between steps. No GPU here: the reads are counted on
CPU with a real ``TorchFunctionMode`` (torch's own hook on every tensor operation), keeping those
issued from outside torch itself; torch's optimizers read their CPU step counters, which never
wait.
The count must not grow with the number of steps.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from torch.overrides import TorchFunctionMode  # noqa: E402

from lockgate.stages.train.batches import BatchSource  # noqa: E402
from lockgate.stages.train.capture import CaptureChoice  # noqa: E402
from lockgate.stages.train.contract import TrainPlan  # noqa: E402
from lockgate.stages.train.loop import LoopSettings, Trainer  # noqa: E402
from lockgate.stages.train.precision import Precision  # noqa: E402

TORCH_DIR = str(Path(torch.__file__).parent)
HOST_READS = {"item", "__float__", "__int__", "__bool__", "__index__", "tolist", "cpu", "numpy"}


class HostReads(TorchFunctionMode):
    """Counts host reads of tensors made by code outside the torch package."""

    def __init__(self) -> None:
        super().__init__()
        self.where: list[str] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = getattr(func, "__name__", "")
        if name in HOST_READS:
            caller = sys._getframe(1)
            if not caller.f_code.co_filename.startswith(TORCH_DIR):
                self.where.append(f"{caller.f_code.co_name}:{caller.f_lineno} {name}")
        return func(*args, **(kwargs or {}))


def trainer(n: int, epochs: int, *, valid: bool = True, capture: str = "off") -> Trainer:
    torch.manual_seed(0)
    x = torch.randn(n, 4)
    y = (x[:, 0] > 0).long()
    cpu = torch.device("cpu")
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    return Trainer(
        TrainPlan(model=model),
        model,
        BatchSource.build(x, y, 16, cpu, "auto", 1),
        BatchSource.build(x[:64], y[:64], 16, cpu, "auto", 1) if valid else None,
        Precision("off", "cpu"),
        None,
        LoopSettings(epochs, checkpoint_every=10_000),
        {},
        True,
        capture=CaptureChoice(capture, capture),
    )


def reads_during_run(n: int, epochs: int) -> list[str]:
    t = trainer(n, epochs)
    with HostReads() as reads:
        outcome = t.run()
    assert outcome.global_step == epochs * -(-n // 16)
    return reads.where


def test_host_reads_do_not_grow_with_the_number_of_steps() -> None:
    few = reads_during_run(160, 3)  # 10 steps per epoch
    many = reads_during_run(1600, 3)  # 100 steps per epoch
    assert len(few) == len(many), (few, many)
    assert len(many) <= 3 * 4, many  # a handful per epoch: the epoch's loss and val metrics


def test_the_counter_sees_a_per_step_read() -> None:
    """The counter is not blind: a loop reading the loss each step is counted once per step."""
    t = trainer(160, 1, valid=False)
    step = t.step

    def reading_step(xb: Any, yb: Any) -> Any:
        loss = step(xb, yb)
        loss.item()
        return loss

    t.step = reading_step  # type: ignore[method-assign]
    with HostReads() as reads:
        t.run()
    assert sum(w.endswith(" item") for w in reads.where) == 10
