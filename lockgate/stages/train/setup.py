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


def run_fingerprint(cfg: TrainConfig, digests: list[str | None], code: str) -> str:
    """What a checkpoint must match to be resumed: every setting that shapes training, the
    data, and the entrypoint's code and model (:func:`code_digest`)."""
    from lockgate.stages.train.checkpoint import fingerprint

    shaping = {k: v for k, v in cfg.model_dump().items() if k not in NOT_SHAPING}
    return fingerprint({"config": shaping, "data": digests, "code": code})


def code_digest(build: Any, model: Any) -> str:
    """The source file of the user's build function (committed or not) and the model's
    structure: its repr and every parameter's and buffer's name, shape and dtype."""
    import hashlib
    import inspect

    h = hashlib.sha256()
    try:
        source = inspect.getsourcefile(build)
    except TypeError:  # a builtin or a callable object without a file
        source = None
    if source and Path(source).is_file():
        h.update(Path(source).read_bytes())
    h.update(repr(model).encode())
    for name, tensor in model.state_dict().items():
        h.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
    return h.hexdigest()[:16]


def checkpoint_folder(ctx: StageContext, cfg: TrainConfig, run_key: str) -> Path:
    """The checkpoint folder, created now: a path that cannot be a folder stops the stage before
    training rather than at the first checkpoint."""
    from lockgate.stages.train.checkpoint import fingerprint

    if cfg.checkpoint_dir:
        folder = ctx.resolve(cfg.checkpoint_dir)
        where, fix = f"with.checkpoint_dir {cfg.checkpoint_dir!r}", "name a folder"
    else:
        key = fingerprint({"run": run_key, "git_sha": ctx.git_sha})
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


def build_plan(cfg: TrainConfig, ctx: StageContext, tctx: TrainContext) -> tuple[TrainPlan, str]:
    """The user's plan, and the :func:`code_digest` of its build function and model."""
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
    return plan, code_digest(build, plan.model)


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
    from lockgate.stages.train.outputs import write_json
    from lockgate.stages.train.plan_defaults import default_loss, default_optimizer

    recorded, store = folder / AMP_CHOICE, CheckpointStore(folder)
    if not cfg.resume or store.finished():
        # This run starts over (open_store, after this, clears the checkpoints but keeps the
        # choice): clear it first, so the choice made below is the one a resume of this run finds.
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
