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


def small_trainer(plan_fields: dict[str, Any], *, capture: str = "off") -> Trainer:
    torch.manual_seed(0)
    x = torch.randn(160, 4)
    y = (x[:, 0] > 0).long()
    cpu = torch.device("cpu")
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    return Trainer(
        TrainPlan(model=model, **plan_fields),
        model,
        BatchSource.build(x, y, 16, cpu, "auto", 1),
        BatchSource.build(x[:64], y[:64], 16, cpu, "auto", 1),
        Precision("off", "cpu"),
        None,
        LoopSettings(3, checkpoint_every=10_000),
        {},
        True,
        capture=CaptureChoice(capture, capture),
    )


def test_a_diverged_epoch_stops_the_run_in_one_line() -> None:
    """An optimizer that blows the weights up: the first epoch's loss is NaN and the run stops,
    naming the epoch and what to change, rather than finishing with NaN metrics."""
    from lockgate.stages.train.divergence import TrainingDiverged

    t = small_trainer({"optimizer": lambda p: torch.optim.SGD(p, lr=1e30)})
    with pytest.raises(TrainingDiverged) as caught:
        t.run()
    message = str(caught.value)
    assert message.startswith("train stage, epoch 1: train_loss is nan (training diverged)")
    assert "lower the learning rate" in message and "amp: off" in message
    assert "\n" not in message


def test_outputs_are_strict_json_even_with_a_nan_metric(tmp_path: Path) -> None:
    """JSON has no NaN: an undefined metric (an extra one, say) is written as null."""
    import json

    from lockgate.stages.train.outputs import write_json

    write_json(tmp_path / "m.json", {"val_f1": float("nan"), "rows": [{"x": float("inf")}]})

    def refuse(constant: str) -> None:
        raise ValueError(constant)

    text = (tmp_path / "m.json").read_text()
    assert json.loads(text, parse_constant=refuse) == {"rows": [{"x": None}], "val_f1": None}


def test_reduce_lr_on_plateau_is_given_the_validation_loss() -> None:
    """ReduceLROnPlateau.step needs a metric: it gets each epoch's val_loss. Told to maximize it
    (patience 0), it keeps epoch 1's falling loss as the best and halves the rate after epochs
    2 and 3."""
    sched = lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(  # noqa: E731
        opt, mode="max", patience=0, threshold=0.0, factor=0.5
    )
    t = small_trainer({"scheduler": sched})
    outcome = t.run()
    losses = [row["val_loss"] for row in outcome.history]
    assert losses == sorted(losses, reverse=True) and len(losses) == 3
    assert t.scheduler.best == losses[0]
    assert t.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.25)


def test_a_restored_optimizer_stays_capturable_for_cuda_graphs() -> None:
    """Resuming under capture: cuda-graph a checkpoint of a run that was not captured: the
    loaded param groups say capturable=False and the step counters sit on the host; the
    restore switches both back. Checked on CPU, where the parameters (and so the counters)
    live on the CPU: the graph itself needs a GPU and is not run here."""
    from lockgate.stages.train.checkpoint import CheckpointStore, Resumable

    plain = small_trainer({})
    plain.run()
    saved = plain._state(3, 0, 30, torch.zeros(()), 0, [])
    graph = small_trainer({}, capture="cuda-graph")
    assert graph.graph is not None and graph.optimizer.param_groups[0]["capturable"]
    graph._restore(Resumable(CheckpointStore(Path("ck")).path_for(30), saved))
    assert all(g["capturable"] for g in graph.optimizer.param_groups)
    steps = [s["step"] for s in graph.optimizer.state.values()]
    assert steps and all(float(s) == 10 * 3 for s in steps)


def test_a_checkpoint_that_does_not_fit_the_model_is_one_line() -> None:
    from lockgate.stages.train.checkpoint import CheckpointError, Resumable

    saved = small_trainer({})._state(0, 0, 0, torch.zeros(()), 0, [])
    saved["model"] = {k: torch.zeros(3) for k in saved["model"]}  # a widened layer, say
    t = small_trainer({})
    where = Path("ck") / "step-00000007.pt"
    with pytest.raises(CheckpointError) as caught:
        t._restore(Resumable(where, saved))
    message = str(caught.value)
    assert message.startswith(f"checkpoint {where} does not fit this model (")
    assert message.endswith("); set resume: false or delete it") and "\n" not in message


FALLBACK = """
import torch
from lockgate.stages.train.batches import BatchSource
from lockgate.stages.train.capture import CaptureChoice
from lockgate.stages.train.contract import TrainPlan
from lockgate.stages.train.loop import LoopSettings, Trainer
from lockgate.stages.train.precision import Precision
torch.manual_seed(0)
x = torch.randn(64, 4); y = (x[:, 0] > 0).long()
cpu = torch.device("cpu")
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
t = Trainer(TrainPlan(model=model), model, BatchSource.build(x, y, 16, cpu, "auto", 1), None,
            Precision("off", "cpu"), None, LoopSettings(1, checkpoint_every=10_000), {}, True,
            capture=CaptureChoice("compile", "compile"))
out = t.run()
print("RESULT", out.global_step, t.capture.mode, out.history[0]["train_loss"] > 0)
"""


def test_compile_without_a_cxx_compiler_falls_back_to_eager(tmp_path: Path) -> None:
    """A slim image with no C++ compiler: Inductor fails on the first compiled call; that batch
    runs eagerly and the rest of the run is eager, with one logged reason. A real torch.compile
    in a child process pointed at a compiler that does not exist, with an empty Inductor cache
    (a warm cache would hide the failure)."""
    import os
    import subprocess

    env = {
        **os.environ,
        "CXX": str(tmp_path / "no" / "g++"),
        "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
    }
    done = subprocess.run(
        [sys.executable, "-c", FALLBACK], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RESULT 4 off True" in done.stdout
    notes = [line for line in done.stderr.splitlines() if line.startswith("train: capture")]
    assert len(notes) == 1, done.stderr[-3000:]
    assert notes[0].startswith("train: capture compile -> off: torch.compile failed (")
    assert "C++ compiler" in notes[0]
    assert "Traceback" not in done.stderr
