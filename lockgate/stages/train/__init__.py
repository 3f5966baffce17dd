"""``uses: lockgate/train``: run the user's model through lockgate's training loop.

See docs/train.md for the entrypoint contract and every ``with:`` option.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from lockgate.stages.context import StageContext
from lockgate.stages.train.config import TrainConfig, parse_train_config
from lockgate.stages.train.contract import DatasetShape, TrainContext, TrainPlan
from lockgate.stages.train.entrypoint import EntrypointError, load_entrypoint
from lockgate.stages.train.launch import DistributedRole, needs_torchrun, torchrun_command

__all__ = ["DatasetShape", "TrainContext", "TrainPlan", "main"]

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
    model: Any,
    source: Any,
    folder: Path,
    hyper: dict[str, Any],
    classification: bool,
) -> tuple[str, str]:
    """The precision to train in, and a note for the report (``amp: auto`` measures)."""
    import json

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
        model,
        plan.optimizer or default_optimizer(hyper),
        plan.loss or default_loss(classification),
        source,
        cfg.amp_probe_steps,
    )
    write_json(recorded, {"mode": choice.mode, "note": choice.summary()})
    return choice.mode, choice.summary()


def train(ctx: StageContext, cfg: TrainConfig, role: DistributedRole) -> int:
    import torch

    from lockgate.stages.train.batches import BatchSource
    from lockgate.stages.train.checkpoint import CheckpointStore
    from lockgate.stages.train.launch import init_distributed, wrap_model
    from lockgate.stages.train.loop import LoopSettings, Trainer
    from lockgate.stages.train.outputs import TrainSummary, write_outputs
    from lockgate.stages.train.precision import Precision, resolve_device, seed_everything
    from lockgate.stages.train.tabular import load_tabular, n_classes

    device = resolve_device(cfg.device, role.local_rank)
    seed_everything(cfg.seed, cfg.deterministic)
    init_distributed(role, device)
    train_data = load_tabular(ctx.resolve(cfg.data.train), cfg.data.target, cfg.data.task)
    valid_data = (
        load_tabular(ctx.resolve(cfg.data.valid), cfg.data.target, cfg.data.task)
        if cfg.data.valid
        else None
    )
    classes = n_classes(train_data, valid_data)
    shape = DatasetShape(
        len(train_data.target),
        len(train_data.feature_names),
        classes,
        train_data.feature_names,
        train_data.digest,
    )
    tctx = TrainContext(
        device, cfg.amp, cfg.seed, dict(cfg.params), shape, role.world_size, role.rank
    )
    plan = build_plan(cfg, ctx, tctx)
    plan.model.to(device)
    source = BatchSource.build(
        train_data.features,
        train_data.target,
        cfg.batch_size,
        device,
        cfg.data.placement,
        cfg.seed,
        role.rank,
        role.world_size,
    )
    valid = (
        BatchSource.build(
            valid_data.features,
            valid_data.target,
            cfg.batch_size,
            device,
            cfg.data.placement,
            cfg.seed,
        )
        if valid_data
        else None
    )
    folder = checkpoint_folder(
        ctx, cfg, [train_data.digest, valid_data.digest if valid_data else None]
    )
    hyper = dict(cfg.params)
    amp, amp_note = choose_amp(cfg, plan, plan.model, source, folder, hyper, classes > 0)
    store = CheckpointStore(folder, cfg.keep_checkpoints)
    if (not cfg.resume or store.finished()) and role.is_chief:
        store.clear()  # a finished run of these inputs is trained again, not resumed
    if role.world_size > 1:
        torch.distributed.barrier()  # every rank sees the same checkpoints, cleared or not
    interrupted = store.existing()
    if interrupted:
        print(
            f"train: resuming an interrupted run from step {int(interrupted[-1].stem[5:])} "
            f"(checkpoints in {folder}; set resume: false to start over)",
            file=sys.stderr,
        )
    trainer = Trainer(
        plan,
        wrap_model(plan.model, role, device),
        source,
        valid,
        Precision(amp, device.type),
        store,
        LoopSettings(cfg.epochs, cfg.checkpoint_every, cfg.max_steps, role.is_chief),
        hyper,
        classes > 0,
    )
    image_digest = os.environ.get("LOCKGATE_IMAGE_DIGEST", "")
    tracked = None
    if cfg.tracking == "on" and role.is_chief:
        from lockgate.stages.tracking_store import TrackingStore
        from lockgate.stages.train.tracking import MlflowTrainRun

        tags = {
            "lockgate.git_sha": ctx.git_sha,
            "mlflow.source.git.commit": ctx.git_sha,
            "lockgate.image_digest": image_digest,
            "lockgate.run_id": ctx.run_id,
            "lockgate.stage": ctx.stage,
            "lockgate.data_digest": train_data.digest,
            **plan.tags,
        }
        run = MlflowTrainRun(
            TrackingStore.resolve(ctx.state, cfg.tracking_uri),
            cfg.experiment,
            {k: v for k, v in tags.items() if v},
        )
        with run:
            run.log_params(
                {
                    **hyper,
                    "epochs": cfg.epochs,
                    "batch_size": cfg.batch_size,
                    "seed": cfg.seed,
                    "amp": amp,
                    "entrypoint": cfg.entrypoint,
                }
            )
            run.log_dataset(
                "train", train_data.digest, train_data.source.resolve().as_uri(), "training"
            )
            if valid_data:
                run.log_dataset(
                    "valid", valid_data.digest, valid_data.source.resolve().as_uri(), "validation"
                )
            logged: set[float] = set()

            def log_live(row: dict[str, float]) -> None:
                run.log_epoch(row)
                logged.add(row["epoch"])

            trainer.on_epoch = log_live
            outcome = trainer.run()
            for row in outcome.history:  # epochs restored from a checkpoint
                if row["epoch"] not in logged:
                    run.log_epoch(row)
            tracked = run.finish(run.log_model(plan.model, outcome.final_metrics))
    else:
        outcome = trainer.run()
    if role.world_size > 1:
        torch.distributed.barrier()
    if not role.is_chief:
        return 0
    store.mark_finished(outcome.global_step)
    summary = TrainSummary(
        cfg.entrypoint,
        type(plan.model).__name__,
        sum(p.numel() for p in plan.model.parameters()),
        str(device),
        amp,
        amp_note,
        "device-resident" if source.resident else "host, pinned",
        cfg.seed,
        cfg.deterministic,
        hyper,
        train_data.digest,
        valid_data.digest if valid_data else None,
        shape.n_features,
        classes,
        shape.feature_names,
        outcome.history,
        outcome.final_metrics,
        outcome.samples_per_s,
        outcome.global_step,
        outcome.resumed_from_step,
        str(folder),
        ctx.git_sha,
        image_digest,
        tracked.run_id if tracked else None,
        tracked.model_uri if tracked else None,
        tracked.tracking_uri if tracked else None,
    )
    write_outputs(ctx.out, summary, plan.model)
    print(
        f"train: {outcome.global_step} steps, {outcome.samples_per_s:,.0f} samples/s, "
        f"amp {amp}, metrics {outcome.final_metrics}",
        file=sys.stderr,
    )
    return 0


def main(ctx: StageContext) -> int:
    cfg = parse_train_config(ctx.with_)
    if needs_torchrun(cfg.gpus):
        return subprocess.call(torchrun_command(cfg.gpus))
    return train(ctx, cfg, DistributedRole.from_env())
