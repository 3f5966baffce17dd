"""The train stage from start to outputs: load the data, build the user's plan, train (tracked in
MLflow on the chief), write the outputs. The decisions before the first step live in
``setup.py``, the loop in ``loop.py``."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lockgate.stages.context import StageContext
from lockgate.stages.train.config import TrainConfig, parse_train_config
from lockgate.stages.train.contract import DatasetShape, TrainContext
from lockgate.stages.train.launch import DistributedRole, needs_torchrun

if TYPE_CHECKING:
    from lockgate.engine.sealing import Sealer
    from lockgate.stages.train.checkpoint import CheckpointStore
    from lockgate.stages.train.loop import Trainer, TrainOutcome
    from lockgate.stages.train.outputs import TrainSummary
    from lockgate.stages.train.tabular import TabularData
    from lockgate.stages.train.tracking import TrackedRun


@dataclass(frozen=True)
class Inputs:
    train: TabularData
    valid: TabularData | None
    shape: DatasetShape

    @property
    def classification(self) -> bool:
        return self.shape.n_classes > 0


def load_inputs(ctx: StageContext, cfg: TrainConfig) -> Inputs:
    from lockgate.stages.train.tabular import load_tabular, n_classes
    from lockgate.stages.upstream_files import UpstreamFiles

    data, upstream = cfg.data, UpstreamFiles(ctx)  # sealed upstream outputs are read in place
    train_data = load_tabular(
        ctx.resolve(data.train), data.target, data.task, upstream, keys="with.data"
    )
    valid = None
    if data.valid:  # validated as the task train's target settled on
        task = "classification" if train_data.target.dtype.kind == "i" else "regression"
        valid = matched_features(
            load_tabular(ctx.resolve(data.valid), data.target, task, upstream, keys="with.data"),
            train_data,
        )
    shape = DatasetShape(
        len(train_data.target),
        len(train_data.feature_names),
        n_classes(train_data, valid),
        train_data.feature_names,
        train_data.digest,
    )
    return Inputs(train_data, valid, shape)


def matched_features(valid: TabularData, train: TabularData) -> TabularData:
    """``valid`` with ``train``'s feature columns in ``train``'s order, picked by name; other or
    missing columns are a :class:`DatasetError`. An NPZ's ``X`` has no names: only the number
    of columns is checked, and they are taken by position."""
    from dataclasses import replace

    from lockgate.stages.train.tabular import DatasetError

    if not (valid.named and train.named):
        if len(valid.feature_names) != len(train.feature_names):
            raise DatasetError(
                f"{valid.source}: {len(valid.feature_names)} feature columns, but "
                f"{train.source} has {len(train.feature_names)}: with.data.valid needs the same "
                "features as with.data.train"
            )
        return replace(valid, feature_names=train.feature_names)
    missing = [n for n in train.feature_names if n not in valid.feature_names]
    extra = [n for n in valid.feature_names if n not in train.feature_names]
    if missing or extra:
        diff = "; ".join(
            f"{what}: {', '.join(names[:12])}"
            for what, names in (("missing", missing), ("not in train", extra))
            if names
        )
        raise DatasetError(
            f"{valid.source}: feature columns differ from {train.source}'s ({diff}); "
            "with.data.valid needs the same feature columns as with.data.train (any order)"
        )
    order = [valid.feature_names.index(n) for n in train.feature_names]
    if order == sorted(order):
        return valid
    return replace(valid, features=valid.features[:, order], feature_names=train.feature_names)


def open_store(
    cfg: TrainConfig,
    folder: Any,
    role: DistributedRole,
    sealer: Sealer | None = None,
    *,
    stage: str = "train",
    run_key: str = "",
) -> CheckpointStore:
    """The checkpoint store: cleared unless an unfinished run of these inputs is resumed (the
    loop says which step it resumes from, once it has loaded it). ``amp: auto``'s choice, made
    for this run just before, is kept."""
    import torch

    from lockgate.stages.train.checkpoint import CheckpointStore

    store = CheckpointStore(folder, cfg.keep_checkpoints, sealer, stage, run_key)
    if (not cfg.resume or store.finished()) and role.is_chief:
        # a finished run of these inputs is trained again, not resumed
        store.clear(keep_amp_choice=cfg.amp == "auto")
    if role.world_size > 1:
        torch.distributed.barrier()  # every rank sees the same checkpoints, cleared or not
    return store


def run_tracked(
    ctx: StageContext,
    cfg: TrainConfig,
    trainer: Trainer,
    inputs: Inputs,
    logged_params: dict[str, Any],
    tags: dict[str, str],
    sealer: Sealer | None = None,
) -> tuple[TrainOutcome, TrackedRun]:
    """Train inside an MLflow run: params, datasets, one row per epoch, the model (sealed in
    the embedded store with ``sealer``: :mod:`lockgate.stages.sealed_models`)."""
    from lockgate.stages.sealed_models import seal_logged_model
    from lockgate.stages.tracking_store import TrackingStore
    from lockgate.stages.train.tracking import MlflowTrainRun

    run = MlflowTrainRun(
        TrackingStore.resolve(ctx.state, cfg.tracking_uri),
        cfg.experiment,
        {k: v for k, v in tags.items() if v},
    )
    with run:
        run.log_params(logged_params)
        for name, data, context in (
            ("train", inputs.train, "training"),
            ("valid", inputs.valid, "validation"),
        ):
            if data is not None:
                run.log_dataset(name, data.digest, data.source.resolve().as_uri(), context)
        logged: set[float] = set()

        def log_live(row: dict[str, float]) -> None:
            run.log_epoch(row)
            logged.add(row["epoch"])

        trainer.on_epoch = log_live
        outcome = trainer.run()
        for row in outcome.history:  # epochs restored from a checkpoint
            if row["epoch"] not in logged:
                run.log_epoch(row)
        model_uri = run.log_model(trainer.plan.model, outcome.final_metrics)
        seal_logged_model(run.store, model_uri, sealer)
        return outcome, run.finish(model_uri)


def train(ctx: StageContext, cfg: TrainConfig, role: DistributedRole) -> int:
    import torch

    from lockgate.stages.train.batches import BatchSource
    from lockgate.stages.train.capture import choose_capture, probe_capture
    from lockgate.stages.train.launch import init_distributed, wrap_model
    from lockgate.stages.train.loop import LoopSettings, Trainer
    from lockgate.stages.train.outputs import write_outputs
    from lockgate.stages.train.plan_defaults import default_loss, default_optimizer
    from lockgate.stages.train.precision import Precision, resolve_device, seed_everything
    from lockgate.stages.train.setup import (
        build_plan,
        checkpoint_folder,
        choose_amp,
        run_fingerprint,
    )

    device = resolve_device(cfg.device, role.local_rank)
    seed_everything(cfg.seed, cfg.deterministic)
    init_distributed(role, device)
    inputs = load_inputs(ctx, cfg)
    hyper = dict(cfg.params)
    tctx = TrainContext(device, cfg.amp, cfg.seed, hyper, inputs.shape, role.world_size, role.rank)
    plan, code = build_plan(cfg, ctx, tctx)
    plan.model.to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    batches = (cfg.batch_size, device, cfg.data.placement, cfg.seed)
    train_data, valid_data = inputs.train, inputs.valid
    if len(train_data.target) < role.world_size:
        from lockgate.stages.train.tabular import DatasetError

        raise DatasetError(
            f"{train_data.source}: {len(train_data.target)} rows for {role.world_size} workers "
            f"(with.gpus {cfg.gpus}): every worker needs at least one row; use fewer gpus or "
            "more data"
        )
    source = BatchSource.build(
        train_data.features, train_data.target, *batches, role.rank, role.world_size
    )
    valid = (
        BatchSource.build(valid_data.features, valid_data.target, *batches) if valid_data else None
    )
    valid_digest = valid_data.digest if valid_data else None
    run_key = run_fingerprint(cfg, [train_data.digest, valid_digest], code)
    folder = checkpoint_folder(ctx, cfg, run_key)
    sealer = ctx.at_rest_sealer()
    amp, amp_note = choose_amp(cfg, plan, source, folder, hyper, inputs.classification)
    capture = choose_capture(
        cfg.capture,
        device,
        amp=amp,
        scheduler=plan.scheduler is not None,
        world_size=role.world_size,
    )
    if capture.asked == "auto" and capture.mode == "cuda-graph":  # a graph could run: measure
        capture = probe_capture(
            plan.model,
            plan.optimizer or default_optimizer(hyper),
            plan.loss or default_loss(inputs.classification),
            source,
            Precision(amp, device.type),
            cfg.amp_probe_steps,
        )
    if capture.reason and role.is_chief:
        print(f"train: {capture.note()}", file=sys.stderr)
    trainer = Trainer(
        plan,
        wrap_model(plan.model, role, device),
        source,
        valid,
        Precision(amp, device.type),
        open_store(cfg, folder, role, sealer, stage=ctx.stage or "train", run_key=run_key),
        LoopSettings(cfg.epochs, cfg.checkpoint_every, cfg.max_steps, role.is_chief),
        hyper,
        inputs.classification,
        capture=capture,
    )
    image_digest = os.environ.get("LOCKGATE_IMAGE_DIGEST", "")
    tracked = None
    if cfg.tracking == "on" and role.is_chief:
        tags = {
            "lockgate.git_sha": ctx.git_sha,
            "mlflow.source.git.commit": ctx.git_sha,
            "lockgate.image_digest": image_digest,
            "lockgate.run_id": ctx.run_id,
            "lockgate.stage": ctx.stage,
            "lockgate.data_digest": train_data.digest,
            **plan.tags,
        }
        logged = {
            **hyper,
            "epochs": cfg.epochs,
            "batch_size": cfg.batch_size,
            "seed": cfg.seed,
            "amp": amp,
            "entrypoint": cfg.entrypoint,
        }
        outcome, tracked = run_tracked(ctx, cfg, trainer, inputs, logged, tags, sealer)
    else:
        outcome = trainer.run()
    if role.world_size > 1:
        torch.distributed.barrier()
    if not role.is_chief:
        return 0
    trainer.store.mark_finished(outcome.global_step)  # type: ignore[union-attr]
    summary = summarize(ctx, cfg, inputs, trainer, outcome, amp_note, tracked, image_digest)
    write_outputs(ctx.out, summary, plan.model)
    paid = f" (after {outcome.capture_seconds:.1f} s of it)" if outcome.capture_seconds else ""
    print(
        f"train: {outcome.global_step} steps, {outcome.samples_per_s:,.0f} samples/s, "
        f"amp {amp}, capture {trainer.capture.mode}{paid}, metrics {outcome.final_metrics}",
        file=sys.stderr,
    )
    return 0


def summarize(
    ctx: StageContext,
    cfg: TrainConfig,
    inputs: Inputs,
    trainer: Trainer,
    outcome: TrainOutcome,
    amp_note: str,
    tracked: TrackedRun | None,
    image_digest: str,
) -> TrainSummary:
    import torch

    from lockgate.stages.train.outputs import TrainSummary

    device, plan = trainer.train.device, trainer.plan
    peak = None
    if device.type == "cuda":
        peak = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return TrainSummary(
        cfg.entrypoint,
        type(plan.model).__name__,
        sum(p.numel() for p in plan.model.parameters()),
        str(device),
        trainer.precision.mode,
        amp_note,
        "device-resident" if trainer.train.resident else "host, pinned",
        cfg.seed,
        cfg.deterministic,
        dict(cfg.params),
        inputs.train.digest,
        inputs.valid.digest if inputs.valid else None,
        inputs.shape.n_features,
        inputs.shape.n_classes,
        inputs.shape.feature_names,
        outcome.history,
        outcome.final_metrics,
        outcome.samples_per_s,
        outcome.global_step,
        outcome.resumed_from_step,
        str(trainer.store.folder) if trainer.store else "",
        ctx.git_sha,
        image_digest,
        tracked.run_id if tracked else None,
        tracked.model_uri if tracked else None,
        tracked.tracking_uri if tracked else None,
        capture=trainer.capture.note(),
        peak_gpu_memory_mib=peak,
        capture_seconds=outcome.capture_seconds,
    )


def main(ctx: StageContext) -> int:
    cfg = parse_train_config(ctx.with_)
    if needs_torchrun(cfg.gpus):
        from lockgate.stages.train.launch import run_workers

        return run_workers(cfg.gpus)
    return train(ctx, cfg, DistributedRole.from_env())
