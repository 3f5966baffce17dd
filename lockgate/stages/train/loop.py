"""The training loop lockgate owns: epochs of device-resident batches, AMP, checkpoints, resume."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lockgate.stages.train.batches import BatchSource
from lockgate.stages.train.capture import CaptureChoice, GraphStep, make_capturable
from lockgate.stages.train.checkpoint import CheckpointStore, capture_rng, restore_rng
from lockgate.stages.train.contract import TrainPlan
from lockgate.stages.train.precision import Precision


def default_loss(classification: bool) -> Callable[[Any, Any], Any]:
    import torch.nn.functional as F

    if classification:
        return F.cross_entropy
    return lambda out, y: F.mse_loss(out.reshape(y.shape), y)


def default_optimizer(params: Mapping[str, Any]) -> Callable[[Any], Any]:
    import torch

    lr = optimizer_setting(params, "lr", 1e-3)
    wd = optimizer_setting(params, "weight_decay", 0.01)
    return lambda parameters: torch.optim.AdamW(parameters, lr=lr, weight_decay=wd)


def optimizer_setting(params: Mapping[str, Any], name: str, default: float) -> float:
    """``params[name]`` as the default optimizer takes it: a number >= 0 (YAML 1.1 reads ``1e-3``
    as a string, so a numeric string counts)."""
    import math

    from lockgate.stages.train.config import TrainConfigError

    value = params.get(name, default)
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number >= 0):
        raise TrainConfigError(
            f"train stage with.params.{name}: {value!r} is not a number >= 0, which the default "
            f"optimizer (AdamW) needs, e.g. {name}: {default}; or return your own optimizer from "
            "the entrypoint (TrainPlan.optimizer)"
        )
    return number


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

    @property
    def samples_per_s(self) -> float:
        """Of the steps this run took; when it took none (resumed from the last checkpoint of a
        run not marked finished), the rate the checkpointed epochs ran at: the harmonic mean of
        their rows, which is their samples over their seconds when the epochs are equal."""
        if self.train_seconds > 0:
            return self.samples_seen / self.train_seconds
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

    def _restore(self, state: Mapping[str, Any]) -> None:
        self.plan.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"], self.train.device)

    def step(self, xb: Any, yb: Any) -> Any:
        """One optimizer step; returns the (device) loss tensor without synchronizing.

        A batch shorter than the batch size (an epoch's last) runs eagerly under every capture
        mode: a captured graph has fixed shapes, and a compiled model would compile again."""
        full = len(yb) == self.train.batch_size
        if self.graph is not None:
            return self.graph(xb, yb, full)
        forward = self.compiled if self.compiled is not None and full else self.model
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
        state = self.store.load_latest() if self.store else None
        if state is not None:
            self._restore(state)
            first_epoch, first_step = state["epoch"], state["step_in_epoch"]
            global_step = resumed = state["global_step"]
            history = list(state["history"])
            if self.settings.is_chief or not state.get("epoch_sums_all_ranks"):
                loss_sum = state["epoch_loss_sum"].to(self.train.device)
                seen = state["epoch_seen"]  # the chief alone carries the group's partial epoch
        steps_per_epoch = self.train.steps_per_epoch()
        limit = self.settings.max_steps
        train_seconds, samples = 0.0, 0
        # Checkpoint every `every` steps, at an epoch end when a multiple of `every` was passed
        # inside it, and after the last epoch.
        save = self.store is not None and self.settings.is_chief
        every, saved_at = self.settings.checkpoint_every, global_step
        self.model.train()
        for epoch in range(first_epoch, self.settings.epochs):
            if limit is not None and global_step >= limit:
                break
            start = time.perf_counter()
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
            if self.scheduler is not None:
                self.scheduler.step()
            # Under DDP each rank saw its share: the row is of every sample the epoch took.
            loss_sum, seen, epoch_samples = summed_over_ranks(loss_sum, seen, epoch_samples)
            row = {"epoch": float(epoch + 1), "train_loss": float(loss_sum) / max(seen, 1)}
            elapsed = time.perf_counter() - start  # float(loss_sum) synchronized the device
            train_seconds += elapsed
            samples += epoch_samples
            row["samples_per_s"] = epoch_samples / elapsed if elapsed > 0 else 0.0
            row.update(self.evaluate())
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
        return TrainOutcome(history, global_step, resumed, train_seconds, samples, last)
