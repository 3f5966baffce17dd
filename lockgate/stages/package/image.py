"""Build the model image through the Docker Engine API, with its OCI and lockgate labels."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lockgate.contract import RECIPE_LABEL
from lockgate.errors import LockgateError
from lockgate.stages.package.sources import PackagedModel


def image_labels(
    model: PackagedModel, *, source: str, revision: str, created: str, extra: Mapping[str, str]
) -> dict[str, str]:
    labels = {
        "org.opencontainers.image.title": model.name,
        "org.opencontainers.image.version": model.version,
        "org.opencontainers.image.source": source,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.created": created,
        "dev.lockgate.model.name": model.name,
        "dev.lockgate.model.version": model.version,
        "dev.lockgate.model.digest": model.digest,
        "dev.lockgate.mlflow.run_id": model.run_id,
        **extra,
    }
    return {k: v for k, v in sorted(labels.items()) if v}


def created_time(configured: str | None, card_created: str | None) -> str:
    """RFC 3339: configured, else SOURCE_DATE_EPOCH, else the model card's, else now."""
    if configured:
        return configured
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if card_created:
        return card_created
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def source_url(configured: str | None, workspace: Path) -> str:
    """The repository URL: configured, else CI variables, else origin in .git/config; without
    a user or password in it (a clone URL may hold a token), since it becomes an image label."""
    from lockgate.engine.stage_env import without_userinfo

    return without_userinfo(_source_url(configured, workspace))


def _source_url(configured: str | None, workspace: Path) -> str:
    if configured:
        return configured
    env = os.environ
    if env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}"
    for name in ("CI_PROJECT_URL", "GIT_URL"):
        if env.get(name):
            return env[name]
    config = workspace / ".git" / "config"
    if config.is_file():
        section = ""
        for line in config.read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == '[remote "origin"]' and line.startswith("url"):
                return line.split("=", 1)[1].strip()
    return ""


def runner_image(client: Any, recipe_digest: str) -> str:
    """The stage's own runner image (the engine knows it by its recipe label)."""
    found = client.images.list(filters={"label": f"{RECIPE_LABEL}={recipe_digest}"})
    if not recipe_digest or not found:
        raise LockgateError(
            "with.base is not set and the stage's runner image is not in the engine "
            f"(recipe {recipe_digest or 'unknown'}); set with.base to an image with python3"
        )
    tags = sorted(found[0].tags)
    return tags[0] if tags else str(found[0].id)


def build_image(
    client: Any,
    context: bytes,
    tag: str,
    labels: Mapping[str, str],
    say: Callable[[str], None],
) -> tuple[str, float]:
    """Build from a tar context; returns the image id and the seconds it took."""
    import docker.errors

    started = time.monotonic()
    log: list[str] = []
    try:
        for chunk in client.api.build(
            fileobj=io.BytesIO(context),
            custom_context=True,
            tag=tag,
            labels=dict(labels),
            rm=True,
            forcerm=True,
            decode=True,
        ):
            for line in chunk.get("stream", "").splitlines():
                if line.strip():
                    log.append(line)
            if "error" in chunk:
                tail = " | ".join(log[-3:])
                raise LockgateError(
                    f"model image {tag}: build failed: {chunk['error'].strip()} (last: {tail})"
                )
    except docker.errors.APIError as exc:
        raise LockgateError(
            f"model image {tag}: the engine refused the build: {exc.explanation}"
        ) from None
    image_id = str(client.images.get(tag).id)
    say(f"package: built {tag} ({image_id[:19]}) in {time.monotonic() - started:.1f}s")
    return image_id, time.monotonic() - started
