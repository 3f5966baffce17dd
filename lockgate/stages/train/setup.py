"""Everything the train stage decides before the first step: the user's plan, the precision,
the checkpoint folder. Kept apart from the run itself (``stage.py``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lockgate.stages.context import StageContext
from lockgate.stages.train.config import TrainConfig, TrainConfigError
from lockgate.stages.train.contract import TrainContext, TrainPlan
from lockgate.stages.train.entrypoint import EntrypointError, load_entrypoint, user_code_failed

# Settings that do not change what is trained; a checkpoint survives changes to these.
NOT_SHAPING = {
    "tracking",
    "tracking_uri",
    "experiment",
    "model_name",
    "checkpoint_dir",
    "keep_checkpoints",
    "resume",
    "checkpoint_every",
    "amp_probe_steps",
    "capture",
}


# What a TrainPlan's optional fields must be: functions of these shapes (see contract.py), and
# the way to write the two that are often passed already made.
PLAN_FUNCTIONS = {
    "loss": ("(outputs, targets) -> loss tensor", ""),
    "optimizer": (
        "parameters -> Optimizer",
        "; e.g. optimizer=lambda params: torch.optim.Adam(params, lr=1e-3)",
    ),
    "scheduler": (
        "optimizer -> LRScheduler",
        "; e.g. scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 10)",
    ),
    "extra_metrics": ("(outputs, targets) -> {name: float}", ""),
}


def checkpoint_folder(ctx: StageContext, cfg: TrainConfig, digests: list[str | None]) -> Path:
    """The checkpoint folder, created now: a path that cannot be a folder stops the stage before
    training rather than at the first checkpoint."""
    from lockgate.stages.train.checkpoint import fingerprint

    if cfg.checkpoint_dir:
        folder = ctx.resolve(cfg.checkpoint_dir)
        where, fix = f"with.checkpoint_dir {cfg.checkpoint_dir!r}", "name a folder"
    else:
        shaping = {k: v for k, v in cfg.model_dump().items() if k not in NOT_SHAPING}
        key = fingerprint({"config": shaping, "data": digests, "git_sha": ctx.git_sha})
        folder = ctx.state / "train" / (ctx.stage or "train") / key
        where, fix = "checkpoint folder", "set with.checkpoint_dir to a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise TrainConfigError(
            f"train stage {where}: {folder} is a file, not a folder; {fix}, or move the file away"
        ) from None
    except OSError as exc:
        raise TrainConfigError(
            f"train stage {where}: cannot create {folder} ({exc.strerror or exc}); {fix} the "
            "stage can write"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TrainConfigError(
            f"train stage {where}: {folder} is not writable; {fix} the stage can write"
        )
    return folder


def build_plan(cfg: TrainConfig, ctx: StageContext, tctx: TrainContext) -> TrainPlan:
    import torch

    build = load_entrypoint(cfg.entrypoint, ctx.workspace)
    try:
        built = build(tctx)
    except Exception as exc:  # the user's code failed, not lockgate: show where, name the setting
        raise user_code_failed(cfg.entrypoint, "the build function", exc) from None
    plan = TrainPlan(model=built) if isinstance(built, torch.nn.Module) else built
    if not isinstance(plan, TrainPlan) or not isinstance(plan.model, torch.nn.Module):
        raise EntrypointError(
            f"with.entrypoint {cfg.entrypoint!r}: must return a TrainPlan or a torch.nn.Module, "
            f"got {type(built).__name__}"
        )
    for name, (shape, example) in PLAN_FUNCTIONS.items():
        value = getattr(plan, name)
        if value is not None and not callable(value):
            raise EntrypointError(
                f"with.entrypoint {cfg.entrypoint!r}: TrainPlan.{name} must be a function "
                f"{shape}, got an object of type {type(value).__name__}{example}"
            )
    return plan


def choose_amp(
    cfg: TrainConfig,
    plan: TrainPlan,
    source: Any,
    folder: Path,
    hyper: dict[str, Any],
    classification: bool,
) -> tuple[str, str]:
    """The precision to train in, and a note for the report (``amp: auto`` measures). Under DDP
    the first worker alone measures (on its bare model, before it is wrapped) and the others
    take its choice: every worker trains in one precision, and only one writes the record."""
    from lockgate.stages.train.precision import check_precision

    if cfg.amp != "auto":
        check_precision(cfg.amp, source.device)
        return cfg.amp, ""
    import torch.distributed as dist

    shared = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    picked: list[Any] = [None]
    if not shared or dist.get_rank() == 0:
        picked[0] = _measure_amp(cfg, plan, source, folder, hyper, classification)
    if shared:
        dist.broadcast_object_list(picked, src=0)
    mode, note = picked[0]
    return str(mode), str(note)


def _measure_amp(
    cfg: TrainConfig,
    plan: TrainPlan,
    source: Any,
    folder: Path,
    hyper: dict[str, Any],
    classification: bool,
) -> tuple[str, str]:
    """``amp: auto``'s choice: the one recorded for a resumed run, else measured now."""
    from lockgate.stages.train.amp_probe import probe_amp
    from lockgate.stages.train.checkpoint import AMP_CHOICE, CheckpointStore
    from lockgate.stages.train.loop import default_loss, default_optimizer
    from lockgate.stages.train.outputs import write_json

    recorded, store = folder / AMP_CHOICE, CheckpointStore(folder)
    if cfg.resume and store.finished():
        # This run starts over (open_store, after this, would clear the folder): clear it first,
        # so the choice made below is the one a resume of this run finds.
        store.clear()
    elif cfg.resume and store.existing() and recorded.is_file():
        saved = json.loads(recorded.read_text())  # a resumed run keeps the precision it began in
        return saved["mode"], saved["note"] + " (recorded before resume)"
    choice = probe_amp(
        plan.model,
        plan.optimizer or default_optimizer(hyper),
        plan.loss or default_loss(classification),
        source,
        cfg.amp_probe_steps,
    )
    write_json(recorded, {"mode": choice.mode, "note": choice.summary()})
    return choice.mode, choice.summary()
