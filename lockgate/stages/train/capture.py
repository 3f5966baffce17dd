"""How each optimizer step runs (``with: capture:``): eager, under ``torch.compile``, or the
whole step (forward, backward, optimizer) captured once in a CUDA graph and replayed.

Small models are bound by kernel launches, not by the GPU: a replayed graph launches the step's
hundreds of kernels as one. A graph has fixed shapes and addresses, so batches are copied into
static buffers, the optimizer keeps its state on the device (``capturable``), and anything the
graph would freeze or cannot hold makes the stage fall back to eager steps with one logged
reason: no CUDA device, fp16 (its GradScaler reads the device every step), a learning-rate
scheduler (the captured step would keep the first learning rate), several processes (DDP), or an
optimizer without a ``capturable`` option. Under ``compile`` a first compiled step that fails
runs again eagerly and the run goes on eager, saying why once. The last partial batch of an
epoch (when the batch size does not divide the data) has another shape: it runs eagerly, on the
same model and optimizer, under every mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.stages.train.batches import BatchSource
    from lockgate.stages.train.precision import Precision

WARMUP_STEPS = 3  # eager steps on a side stream before capture, as CUDA graphs require


@dataclass(frozen=True)
class CaptureChoice:
    mode: str  # what runs: "off", "compile" or "cuda-graph"
    asked: str
    reason: str = ""  # why ``mode`` differs from ``asked`` (or how auto chose)

    def note(self) -> str:
        if self.mode == self.asked and not self.reason:
            return f"capture {self.mode}"
        return f"capture {self.asked} -> {self.mode}: {self.reason}"


def choose_capture(
    asked: str, device: Any, *, amp: str, scheduler: bool, world_size: int
) -> CaptureChoice:
    """The capture mode this run can use, with the reason when it is not the one asked."""
    if asked in ("off", "compile"):
        return CaptureChoice(asked, asked)
    if device.type != "cuda":
        why = "no CUDA device here" if asked == "cuda-graph" else "no CUDA device, eager steps"
        return CaptureChoice("off", asked, why)
    blockers = [
        (amp == "fp16", "fp16's GradScaler reads the device every step"),
        (scheduler, "a learning-rate scheduler would be frozen at its first rate in the graph"),
        (world_size > 1, "DDP's gradient all-reduce is not captured here"),
    ]
    for blocked, why in blockers:
        if blocked:
            return CaptureChoice("off", asked, why)
    return CaptureChoice("cuda-graph", asked, "" if asked == "cuda-graph" else "CUDA device")


def compile_failed(asked: str, exc: Exception) -> CaptureChoice:
    """Eager steps after the first ``torch.compile``d step raised (no C++ compiler in a slim
    image, an operation Inductor cannot compile): the reason is the error's telling line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    detail = (errors or lines or [""])[0]
    why = f"torch.compile failed ({type(exc).__name__}: {detail[:200]})"
    return CaptureChoice("off", asked, why)


def synchronized(device: Any) -> float:
    """``time.perf_counter()`` once the device has finished what was queued on it."""
    import time

    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)
    return time.perf_counter()


def make_capturable(optimizer: Any) -> str:
    """Switch the optimizer's state to the device; the reason it cannot be, or ''. Called again
    after a checkpoint's optimizer state is loaded (which brings back the saved groups and, from
    a run that was not captured, step counters on the host)."""
    import torch

    groups = optimizer.param_groups
    if not groups or any("capturable" not in g for g in groups):
        return f"{type(optimizer).__name__} has no capturable option"
    for group in groups:
        group["capturable"] = True
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            step = state.get("step")
            if torch.is_tensor(step) and step.device != param.device:
                state["step"] = step.to(param.device)
    return ""


class GraphStep:
    """The whole optimizer step captured in a CUDA graph; ``__call__`` copies a batch into the
    static buffers and replays it. Falls back to ``eager`` for batches of another shape."""

    def __init__(self, model: Any, optimizer: Any, loss_fn: Callable[..., Any], autocast: Any):
        self.model, self.optimizer, self.loss_fn, self.autocast = (
            model,
            optimizer,
            loss_fn,
            autocast,
        )
        self.graph: Any = None
        self.static: tuple[Any, Any, Any] | None = None
        self.warmed = 0
        self.capture_seconds = 0.0  # recording the graph, paid once

    def _eager(self, xb: Any, yb: Any) -> Any:
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            loss = self.loss_fn(self.model(xb), yb)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def _capture(self, xb: Any, yb: Any) -> None:
        import torch

        x, y = xb.clone(), yb.clone()
        self.optimizer.zero_grad(set_to_none=True)  # gradients come from the graph's pool
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            with self.autocast():
                loss = self.loss_fn(self.model(x), y)
            loss.backward()
            self.optimizer.step()
        self.graph, self.static = graph, (x, y, loss)

    def __call__(self, xb: Any, yb: Any, full: bool) -> Any:
        import torch

        if not full:
            return self._eager(xb, yb)
        if self.warmed < WARMUP_STEPS:  # warm-up steps are real steps, on a side stream
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                loss = self._eager(xb, yb)
            torch.cuda.current_stream().wait_stream(side)
            self.warmed += 1
            return loss
        if self.static is None:
            start = synchronized(xb.device)
            self._capture(xb, yb)
            self.capture_seconds = synchronized(xb.device) - start
        assert self.static is not None
        x, y, loss = self.static
        x.copy_(xb, non_blocking=True)
        y.copy_(yb, non_blocking=True)
        self.graph.replay()
        return loss.detach().clone()


AUTO_CANDIDATES = ("off", "cuda-graph")  # compile's first step alone outlasts a probe's budget


def probe_capture(
    model: Any,
    make_optimizer: Callable[[Any], Any],
    loss_fn: Callable[[Any, Any], Any],
    source: BatchSource,
    precision: Precision,
    steps: int,
    candidates: Sequence[str] = AUTO_CANDIDATES,
) -> CaptureChoice:
    """``capture: auto`` where a graph can run: time ``steps`` real steps of each candidate,
    each on a throw-away copy of the model and a fresh optimizer (as ``amp: auto`` does), and
    keep the fastest. The real run starts from the same weights and RNG state whatever it picks.
    A candidate that raises (a model a graph cannot hold) is left out, and the reason says so."""
    import copy

    from lockgate.stages.train.amp_probe import time_steps
    from lockgate.stages.train.checkpoint import capture_rng, restore_rng

    device = source.device
    rng = capture_rng(device)
    rates: dict[str, float] = {}
    failed: list[str] = []
    for mode in candidates:
        probe = copy.deepcopy(model)
        probe.train()
        optimizer = make_optimizer(probe.parameters())
        try:
            one, warmup = _probe_step(mode, probe, optimizer, loss_fn, precision, source)
            rates[mode] = time_steps(one, source, steps, warmup)
        except Exception as exc:
            detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            failed.append(f"{mode} failed ({type(exc).__name__}: {detail})")
        del probe, optimizer
    restore_rng(rng, device)
    if not rates:
        return CaptureChoice("off", "auto", "measured: " + "; ".join(failed))
    best = max(rates, key=rates.__getitem__)
    shown = ", ".join(f"{m} {r:,.0f} samples/s" for m, r in rates.items())
    return CaptureChoice(best, "auto", "; ".join([f"measured {shown}", *failed]))


def _probe_step(
    mode: str,
    model: Any,
    optimizer: Any,
    loss_fn: Callable[[Any, Any], Any],
    precision: Precision,
    source: BatchSource,
) -> tuple[Callable[[Any, Any], Any], int]:
    """One step of ``mode`` on ``model`` and the untimed steps it needs first (the graph's
    warm-up and capture, the compile)."""

    def eager(forward: Any) -> Callable[[Any, Any], Any]:
        def one(xb: Any, yb: Any) -> Any:
            optimizer.zero_grad(set_to_none=True)
            with precision.autocast():
                loss = loss_fn(forward(xb), yb)
            loss.backward()
            optimizer.step()
            return loss

        return one

    if mode == "cuda-graph":
        why = make_capturable(optimizer)
        if why:
            raise ValueError(why)
        graph = GraphStep(model, optimizer, loss_fn, lambda: precision.autocast(cache=False))
        return lambda xb, yb: graph(xb, yb, len(yb) == source.batch_size), WARMUP_STEPS + 1
    if mode == "compile":
        import torch

        compiled, plain = eager(torch.compile(model)), eager(model)
        return lambda xb, yb: (compiled if len(yb) == source.batch_size else plain)(xb, yb), 1
    return eager(model), WARMUP_STEPS
