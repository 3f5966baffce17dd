"""The package stage from model to pushed image: fetch the model into a serving bundle, stage a
deterministic build context on the base image, build it through the container engine, push it
with bounded re-tries, and record ``image.json``."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lockgate.errors import LockgateError
from lockgate.stages.context import StageContext
from lockgate.stages.package.buildcontext import context_tar, stage_context
from lockgate.stages.package.config import PackageConfig, load_config
from lockgate.stages.package.image import (
    build_image,
    created_time,
    image_labels,
    runner_image,
    source_url,
)
from lockgate.stages.package.push import PushPolicy, push_image
from lockgate.stages.package.record import PackagedImage, write_outputs
from lockgate.stages.package.sources import MlflowSource, ModelSource, TrainOutputSource


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def model_source(cfg: PackageConfig, ctx: StageContext) -> ModelSource:
    if cfg.model.startswith("models:/"):
        tracking = cfg.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if not tracking:
            raise LockgateError(
                f"with.model {cfg.model}: an MLflow model URI needs a tracking URI "
                "(with.tracking_uri, the spec's tracking_uri, or MLFLOW_TRACKING_URI)"
            )
        return MlflowSource(
            cfg.model,
            tracking,
            ctx.workspace,
            cfg.model_name,
            cfg.version,
            cfg.code,
            ctx.at_rest_sealer(),
        )
    run_file = ctx.resolve(cfg.run_file) if cfg.run_file else None
    return TrainOutputSource(
        ctx.resolve(cfg.model),
        ctx.workspace,
        cfg.model_name,
        cfg.version,
        run_file,
        cfg.code,
        cfg.model,
    )


def registry_auth(ctx: StageContext) -> dict[str, str] | None:
    """Credentials from the secrets ``registry_username`` / ``registry_password``, if declared."""
    user, password = ctx.secrets_dir / "registry_username", ctx.secrets_dir / "registry_password"
    if not (user.is_file() and password.is_file()):
        return None
    return {
        "username": ctx.secret("registry_username"),
        "password": ctx.secret("registry_password"),
    }


def image_tag(version: str) -> str:
    tag = re.sub(r"[^A-Za-z0-9_.-]", "-", version).lstrip(".-")[:128]
    return tag or "latest"


def connect_engine() -> Any:
    try:
        import docker
    except ImportError:
        raise LockgateError(
            "lockgate/package needs the `docker` package in the runner image "
            "(add docker to image.requirements)"
        ) from None
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise LockgateError(
            f"lockgate/package: no container engine answers at {where}; "
            "set `engine: true` on the stage"
        ) from None
    return client


def package(ctx: StageContext, cfg: PackageConfig, client: Any, policy: PushPolicy) -> int:
    with tempfile.TemporaryDirectory(prefix="lockgate-package-") as tmp:
        bundle = Path(tmp) / "bundle"
        bundle.mkdir()
        model = model_source(cfg, ctx).fetch(bundle)
        base = cfg.base or runner_image(client, os.environ.get("LOCKGATE_IMAGE_DIGEST", ""))
        card = bundle / "model-card.json"
        card_created = json.loads(card.read_text()).get("created") if card.is_file() else None
        labels = image_labels(
            model,
            source=source_url(cfg.source, ctx.workspace),
            revision=ctx.git_sha,
            created=created_time(cfg.created, card_created),
            extra=cfg.labels,
        )
        folder = Path(tmp) / "context"
        stage_context(folder, bundle, base, cfg.port)
        context, context_digest = context_tar(folder)
    tag = image_tag(model.version)
    _say(f"package: {model.name} {model.version} ({model.flavor}) on {base}")
    image_id, build_s = build_image(client, context, f"{cfg.repository}:{tag}", labels, _say)
    started = time.monotonic()
    digest = push_image(client, image_id, cfg.repository, tag, registry_auth(ctx), policy, _say)
    image = PackagedImage(
        repository=cfg.repository,
        digest=digest,
        tag=tag,
        image_id=image_id,
        base=base,
        context_digest=context_digest,
        size_bytes=int(client.images.get(image_id).attrs.get("Size") or 0),
        build_s=build_s,
        push_s=time.monotonic() - started,
    )
    write_outputs(ctx.out, image, model, labels)
    _say(f"package: pushed {image.ref}")
    return 0


def main(ctx: StageContext) -> int:
    cfg = load_config(ctx.with_, ctx.stage)
    client = connect_engine()
    try:
        return package(ctx, cfg, client, PushPolicy(cfg.push_retries, cfg.retry_delay))
    finally:
        client.close()
