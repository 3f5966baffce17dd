"""The training loop lockgate owns: epochs of device-resident batches, AMP, checkpoints, resume."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lockgate.stages.train.batches import BatchSource
from lockgate.stages.train.capture import (
    CaptureChoice,
    GraphStep,
    compile_failed,
    make_capturable,
    synchronized,
)
from lockgate.stages.train.checkpoint import (
    CheckpointError,
    CheckpointStore,
    Resumable,
    capture_rng,
    restore_rng,
)
from lockgate.stages.train.contract import TrainPlan
from lockgate.stages.train.divergence import check_finite
from lockgate.stages.train.plan_defaults import default_loss, default_optimizer
from lockgate.stages.train.precision import Precision


@dataclass(frozen=True)
class LoopSettings:
    epochs: int
    checkpoint_every: int
    max_steps: int | None = None
    is_chief: bool = True  # rank 0 writes checkpoints


@dataclass(frozen=True)
class TrainOutcome:
    history: list[dict[str, float]]
    global_step: int
    resumed_from_step: int | None
    train_seconds: float
    samples_seen: int
    final_metrics: dict[str, float] = field(default_factory=dict)
    # compiling (the first compiled step, its batch included) or capturing the CUDA graph: paid
    # once per process, within train_seconds and samples_seen, and left out of samples_per_s
    capture_seconds: float = 0.0
    capture_samples: int = 0

    @property
    def samples_per_s(self) -> float:
        """Of the steps this run took, without the one-off compile or capture; when it took none
        (resumed from the last checkpoint of a run not marked finished), the rate the
        checkpointed epochs ran at: the harmonic mean of their rows, which is their samples over
        their seconds when the epochs are equal."""
        steady = self.train_seconds - self.capture_seconds
        if steady > 0:
            return (self.samples_seen - self.capture_samples) / steady
        rates = [row["samples_per_s"] for row in self.history if row.get("samples_per_s", 0) > 0]
        return len(rates) / sum(1 / rate for rate in rates) if rates else 0.0


def summed_over_ranks(loss_sum: Any, *counts: int) -> tuple[Any, ...]:
    """``loss_sum`` (a device tensor) and ``counts`` summed over the processes of the DDP group,
    each of which trains on its own share of every epoch; as they are without a process group."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return (loss_sum, *counts)
    device = loss_sum.device
    totals = torch.cat(
        [loss_sum.reshape(1).double(), torch.tensor(counts, dtype=torch.float64, device=device)]
    )  # float64: counts stay exact far beyond any epoch's size
    dist.all_reduce(totals)
    return (totals[0].to(loss_sum.dtype), *(int(c) for c in totals[1:].tolist()))


class Trainer:
    """Runs a :class:`TrainPlan` over a :class:`BatchSource`, checkpointing into a store."""

    def __init__(
        self,
        plan: TrainPlan,
        model: Any,
        train: BatchSource,
        valid: BatchSource | None,
        precision: Precision,
        store: CheckpointStore | None,
        settings: LoopSettings,
        hyper: Mapping[str, Any],
        classification: bool,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        capture: CaptureChoice | None = None,
    ) -> None:
        self.plan = plan
        self.model = model  # possibly DDP-wrapped; plan.model is the bare module
        self.train = train
        self.valid = valid
        self.precision = precision
        self.store = store
        self.settings = settings
        self.classification = classification
        self.loss_fn = plan.loss or default_loss(classification)
        self.optimizer = (plan.optimizer or default_optimizer(hyper))(model.parameters())
        self.scheduler = plan.scheduler(self.optimizer) if plan.scheduler else None
        self.scaler = precision.grad_scaler()
        self.on_epoch = on_epoch
        self.capture = capture or CaptureChoice("off", "off")
        self.compiled: Any = None
        self.compiled_ran = False  # a first compiled step succeeded (else: fall back to eager)
        self.compile_seconds, self.compile_samples = 0.0, 0  # that first step, compile included
        self.graph: GraphStep | None = None
        if self.capture.mode == "compile":
            import torch

            self.compiled = torch.compile(model)
        elif self.capture.mode == "cuda-graph":
            why = make_capturable(self.optimizer)
            if why:
                self.capture = CaptureChoice("off", self.capture.asked, why)
                print(f"train: {self.capture.note()}", file=sys.stderr)
            else:
                self.graph = GraphStep(
                    model, self.optimizer, self.loss_fn, lambda: precision.autocast(cache=False)
                )

    def _state(
        self,
        epoch: int,
        step: int,
        global_step: int,
        loss_sum: Any,
        seen: int,
        history: list[dict[str, float]],
    ) -> dict[str, Any]:
        return {
            "model": self.plan.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "epoch": epoch,
            "step_in_epoch": step,
            "global_step": global_step,
            "epoch_loss_sum": loss_sum.detach().cpu(),
            "epoch_seen": seen,
            "epoch_sums_all_ranks": True,  # the two above are over every DDP rank, not the chief's
            "history": history,
            "rng": capture_rng(self.train.device),
        }

    def _restore(self, found: Resumable) -> None:
        state = found.state
        try:
            self.plan.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler and state["scheduler"] is not None:
                self.scheduler.load_state_dict(state["scheduler"])
            if self.scaler and state["scaler"] is not None:
                self.scaler.load_state_dict(state["scaler"])
        except (RuntimeError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(
                f"checkpoint {found.path} does not fit this model ({first[:200]}); set resume: "
                "false or delete it"
            ) from None
        if self.graph is not None:
            # load_state_dict brought back the saved param groups (capturable=False when the
            # run that wrote them was not captured) and CPU step counters: switch them again
            make_capturable(self.optimizer)
        restore_rng(state["rng"], self.train.device)

    def step(self, xb: Any, yb: Any) -> Any:
        """One optimizer step; returns the (device) loss tensor without synchronizing.

        A batch shorter than the batch size (an epoch's last) runs eagerly under every capture
        mode: a captured graph has fixed shapes, and a compiled model would compile again."""
        full = len(yb) == self.train.batch_size
        if self.graph is not None:
            return self.graph(xb, yb, full)
        if self.compiled is None or not full:
            return self._eager_step(self.model, xb, yb)
        if self.compiled_ran:
            return self._eager_step(self.compiled, xb, yb)
        start = synchronized(self.train.device)
        try:  # the first compiled call compiles: no C++ compiler, an unsupported op...
            loss = self._eager_step(self.compiled, xb, yb)
        except Exception as exc:
            self._compile_failed(exc)
            loss = self._eager_step(self.model, xb, yb)  # the same batch, eagerly
        else:
            self.compiled_ran = True
        self.compile_seconds += synchronized(self.train.device) - start
        self.compile_samples += len(yb)
        return loss

    def capture_paid(self) -> tuple[float, int]:
        """Seconds and samples spent so far compiling the step or capturing its graph."""
        if self.graph is not None:
            return self.graph.capture_seconds, 0  # the captured step is replayed, and timed
        return self.compile_seconds, self.compile_samples

    def _compile_failed(self, exc: Exception) -> None:
        """Fall back to eager steps, with one logged reason (as cuda-graph's fallbacks)."""
        self.compiled = None
        self.capture = compile_failed(self.capture.asked, exc)
        self.optimizer.zero_grad(set_to_none=True)
        if self.settings.is_chief:
            print(f"train: {self.capture.note()}", file=sys.stderr, flush=True)

    def _eager_step(self, forward: Any, xb: Any, yb: Any) -> Any:
        self.optimizer.zero_grad(set_to_none=True)
        with self.precision.autocast():
            loss = self.loss_fn(forward(xb), yb)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        return loss.detach()

    def evaluate(self) -> dict[str, float]:
        import torch

        if self.valid is None:
            return {}
        self.model.eval()
        loss_sum = torch.zeros((), device=self.valid.device)
        correct = torch.zeros((), device=self.valid.device, dtype=torch.int64)
        outputs, targets = [], []
        with torch.inference_mode(), self.precision.autocast():
            for xb, yb in self.valid.all():
                out = self.model(xb)
                loss_sum += self.loss_fn(out, yb).float() * len(yb)
                if self.classification:
                    correct += (out.argmax(dim=1) == yb).sum()
                if self.plan.extra_metrics:
                    outputs.append(out.float())
                    targets.append(yb)
        self.model.train()
        n = self.valid.n_samples
        metrics = {"val_loss": float(loss_sum) / n}
        if self.classification:
            metrics["val_accuracy"] = float(correct) / n
        if self.plan.extra_metrics and outputs:
            extra = self.plan.extra_metrics(torch.cat(outputs), torch.cat(targets))
            metrics.update({f"val_{k}": float(v) for k, v in extra.items()})
        return metrics

    def run(self) -> TrainOutcome:
        import torch

        history: list[dict[str, float]] = []
        first_epoch, first_step, global_step, resumed = 0, 0, 0, None
        loss_sum = torch.zeros((), device=self.train.device)
        seen = 0
        found = self._resume_point()
        if found is not None:
            state = found.state
            self._restore(found)
            first_epoch, first_step = state["epoch"], state["step_in_epoch"]
            global_step = resumed = state["global_step"]
            history = list(state["history"])
            if self.settings.is_chief or not state.get("epoch_sums_all_ranks"):
                loss_sum = state["epoch_loss_sum"].to(self.train.device)
                seen = state["epoch_seen"]  # the chief alone carries the group's partial epoch
        steps_per_epoch = self.train.steps_per_epoch()
        limit = self.settings.max_steps
        train_seconds, samples = 0.0, 0
        # compiling or capturing: its seconds, and the group's samples meanwhile
        captured_paid: tuple[float, int] = (0.0, 0)
        # Checkpoint every `every` steps, at an epoch end when a multiple of `every` was passed
        # inside it, and after the last epoch.
        save = self.store is not None and self.settings.is_chief
        every, saved_at = self.settings.checkpoint_every, global_step
        self.model.train()
        for epoch in range(first_epoch, self.settings.epochs):
            if limit is not None and global_step >= limit:
                break
            start = time.perf_counter()
            paid_seconds, paid_samples = self.capture_paid()
            epoch_samples = 0
            step = first_step if epoch == first_epoch else 0
            for xb, yb in self.train.epoch(epoch, start_step=step):
                loss = self.step(xb, yb)
                loss_sum += loss.float() * len(yb)
                seen += len(yb)
                epoch_samples += len(yb)
                step += 1
                global_step += 1
                last_of_epoch = step == steps_per_epoch
                stop = limit is not None and global_step >= limit
                if self.store is not None and global_step % every == 0 and not last_of_epoch:
                    # every rank takes part in the sum; the chief writes it down
                    so_far, so_far_seen = summed_over_ranks(loss_sum, seen)
                    if save:
                        snapshot = self._state(
                            epoch, step, global_step, so_far, so_far_seen, history
                        )
                        self.store.save(snapshot)
                    saved_at = global_step
                if stop:
                    break
            # Under DDP each rank saw its share: the row is of every sample the epoch took.
            capture_seconds, capture_samples = self.capture_paid()
            capture_seconds -= paid_seconds
            loss_sum, seen, epoch_samples, capture_samples = summed_over_ranks(
                loss_sum, seen, epoch_samples, capture_samples - paid_samples
            )
            row = {"epoch": float(epoch + 1), "train_loss": float(loss_sum) / max(seen, 1)}
            elapsed = time.perf_counter() - start  # float(loss_sum) synchronized the device
            train_seconds += elapsed
            samples += epoch_samples
            captured_paid = (
                captured_paid[0] + capture_seconds,
                captured_paid[1] + capture_samples,
            )
            steady = elapsed - capture_seconds  # the epoch's rate leaves a compile out
            row["samples_per_s"] = (epoch_samples - capture_samples) / steady if steady > 0 else 0.0
            row.update(self.evaluate())
            check_finite(row, epoch + 1)
            if self.scheduler is not None:
                self._step_scheduler(row)
            history.append(row)
            if self.settings.is_chief:  # progress on long runs: one line per epoch
                shown = ", ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch")
                print(
                    f"train: epoch {epoch + 1}/{self.settings.epochs} {elapsed:.1f}s {shown}",
                    file=sys.stderr,
                    flush=True,
                )
            if self.on_epoch:
                self.on_epoch(row)
            loss_sum = torch.zeros((), device=self.train.device)
            seen = 0
            done = epoch + 1 == self.settings.epochs or (limit is not None and global_step >= limit)
            crossed = global_step // every > saved_at // every
            if self.store is not None and save and (done or crossed):
                self.store.save(self._state(epoch + 1, 0, global_step, loss_sum, 0, history))
                saved_at = global_step
        last = (
            {k: v for k, v in history[-1].items() if k not in {"epoch", "samples_per_s"}}
            if history
            else {}
        )
        return TrainOutcome(
            history, global_step, resumed, train_seconds, samples, last, *captured_paid
        )

    def _resume_point(self) -> Resumable | None:
        """The checkpoint to resume from, said on stderr by the chief with each one skipped;
        the skipped ones past it are removed (they would outrank this run's own)."""
        if self.store is None:
            return None
        found = self.store.resumable()
        if self.settings.is_chief:
            for line in self.store.notices:
                print(line, file=sys.stderr, flush=True)
            self.store.discard_newer(int(found.state["global_step"]) if found else None)
            if found is not None:
                print(
                    f"train: resuming an interrupted run from step {found.state['global_step']} "
                    f"(checkpoints in {self.store.folder}; set resume: false to start over)",
                    file=sys.stderr,
                    flush=True,
                )
        return found

    def _step_scheduler(self, row: Mapping[str, float]) -> None:
        """Once per epoch; ReduceLROnPlateau is given the epoch's val_loss (else train_loss)."""
        import torch

        assert self.scheduler is not None
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(row.get("val_loss", row["train_loss"]))
        else:
            self.scheduler.step()
