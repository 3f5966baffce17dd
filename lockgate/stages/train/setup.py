"""Everything the train stage decides before the first step: the user's plan, the precision,
the checkpoint folder. Kept apart from the run itself (``stage.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from lockgate.stages.context import StageContext
from lockgate.stages.train.config import TrainConfig
from lockgate.stages.train.contract import TrainContext, TrainPlan
from lockgate.stages.train.entrypoint import EntrypointError, load_entrypoint

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


def checkpoint_folder(ctx: StageContext, cfg: TrainConfig, digests: list[str | None]) -> Path:
    from lockgate.stages.train.checkpoint import fingerprint

    if cfg.checkpoint_dir:
        return ctx.resolve(cfg.checkpoint_dir)
    shaping = {k: v for k, v in cfg.model_dump().items() if k not in NOT_SHAPING}
    key = fingerprint({"config": shaping, "data": digests, "git_sha": ctx.git_sha})
    return ctx.state / "train" / (ctx.stage or "train") / key


def build_plan(cfg: TrainConfig, ctx: StageContext, tctx: TrainContext) -> TrainPlan:
    import torch

    build = load_entrypoint(cfg.entrypoint, ctx.workspace)
    try:
        built = build(tctx)
    except Exception as exc:  # the user's code failed, not lockgate: show where, name the setting
        import traceback

        traceback.print_exc(file=sys.stderr)
        raise EntrypointError(
            f"with.entrypoint {cfg.entrypoint!r}: the build function raised "
            f"{type(exc).__name__}: {exc} (traceback above)"
        ) from None
    plan = TrainPlan(model=built) if isinstance(built, torch.nn.Module) else built
    if not isinstance(plan, TrainPlan) or not isinstance(plan.model, torch.nn.Module):
        raise EntrypointError(
            f"with.entrypoint {cfg.entrypoint!r}: must return a TrainPlan or a torch.nn.Module, "
            f"got {type(built).__name__}"
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
    """The precision to train in, and a note for the report (``amp: auto`` measures)."""
    from lockgate.stages.train.amp_probe import probe_amp
    from lockgate.stages.train.loop import default_loss, default_optimizer
    from lockgate.stages.train.outputs import write_json
    from lockgate.stages.train.precision import check_precision

    if cfg.amp != "auto":
        check_precision(cfg.amp, source.device)
        return cfg.amp, ""
    recorded = folder / "amp-choice.json"
    if cfg.resume and recorded.is_file():  # a resumed run keeps the precision it started with
        saved = json.loads(recorded.read_text())
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
