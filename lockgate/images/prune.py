"""Remove the runner images a spec no longer runs in.

A runner image is tagged with its recipe's digest (``lockgate-runner/PIPELINE:DIGEST``), so a
changed requirements file, base image or lockgate version builds a new one beside the last,
and nothing removes the old: with PyTorch in it each is about 2 GB. A generated build with Python
packages also leaves its install stage behind, untagged (the classic builder keeps a
multi-stage build's stages as images); those carry :data:`STAGE_LABEL`, naming the runner
repository they were built for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lockgate.errors import LockgateError

STAGE_LABEL = "org.lockgate.runner.stage-of"


@dataclass(frozen=True)
class Pruned:
    images: tuple[str, ...]  # the tags removed
    stages: int  # untagged build stages removed
    in_use: tuple[str, ...]  # tags kept: a container still uses the image
    freed_bytes: int | None  # what the engine's layers shrank by, when it says


def repository_of(tag: str) -> str:
    """``lockgate-runner/tabular-mlp`` of ``lockgate-runner/tabular-mlp:0a83299a57``."""
    name, _, rest = tag.rpartition(":")
    return tag if "/" in rest or not name else name


def prune_runner_images(
    client: Any, current: Iterable[str], older_than_s: float | None = None, now: float = 0.0
) -> Pruned:
    """Remove every tag of the runner repositories of ``current`` (the tags the spec's stages
    run in now) but those, and the build stages left for those repositories; with
    ``older_than_s``, only images created longer ago than that. An image that also carries a
    tag of another repository (one pushed under a registry's name, say) loses only the runner
    tag; one a container uses is kept and named."""
    keep = set(current)
    repositories = sorted({repository_of(tag) for tag in keep})
    before = _layers_size(client)
    removed: list[str] = []
    in_use: list[str] = []
    stages = 0
    for repository in repositories:
        for image in client.images.list(name=repository):
            if _younger(image, older_than_s, now):
                continue
            for tag in image.tags:
                if repository_of(tag) != repository or tag in keep:
                    continue
                gone = _remove(client, tag)
                (removed if gone else in_use).append(tag)
        left = {"dangling": True, "label": f"{STAGE_LABEL}={repository}"}
        for image in client.images.list(filters=left):
            if not _younger(image, older_than_s, now) and _remove(client, image.id):
                stages += 1
    after = _layers_size(client)
    freed = before - after if before is not None and after is not None else None
    return Pruned(tuple(removed), stages, tuple(in_use), freed)


def older_images_hint(client: Any, built: str, in_use: Iterable[str] = ()) -> str:
    """A line saying how many other runner images of ``built``'s repository the engine holds,
    those the spec's other stages run in (``in_use``) aside, and how to remove them; "" when it
    holds none."""
    repository = repository_of(built)
    keep = {built, *in_use}
    try:
        older = [i for i in client.images.list(name=repository) if not keep & set(i.tags)]
    except Exception:  # a hint only: an engine that cannot list now says nothing
        return ""
    if not older:
        return ""
    mib = sum(int(i.attrs.get("Size") or 0) for i in older) / 2**20
    return (
        f"lockgate: the engine also holds {len(older)} older runner "
        f"image{'s' if len(older) != 1 else ''} of {repository} ({mib:,.0f} MiB, layers "
        "shared with this one counted): `lockgate image prune` removes them"
    )


def _younger(image: Any, older_than_s: float | None, now: float) -> bool:
    if older_than_s is None:
        return False
    created = image.attrs.get("Created", "")
    # the engine gives nanoseconds; fromisoformat takes at most microseconds
    text = re.sub(r"(\.\d{6})\d+", r"\1", str(created)).replace("Z", "+00:00")
    try:
        born = datetime.fromisoformat(text).timestamp()
    except ValueError:
        return True  # an age not known is not old enough
    return now - born < older_than_s


def _layers_size(client: Any) -> int | None:
    try:
        size = client.df().get("LayersSize")
    except Exception:  # an engine without the disk-usage call (older Podman) says nothing
        return None
    return int(size) if isinstance(size, int) else None


def _remove(client: Any, ref: str) -> bool:
    """Remove the tag or image ``ref``: True once it is gone (also when it went before, with
    another), False when a container uses it; any other refusal is an error naming it."""
    import docker.errors

    try:
        client.images.remove(ref)
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError as exc:
        if exc.status_code == 409:  # a container uses it
            return False
        raise LockgateError(f"cannot remove {ref}: the engine refused: {exc.explanation}") from None
    return True
