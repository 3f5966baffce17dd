"""Build a Debian base image locally: debootstrap a rootfs, import it into the engine, tag it.

No container registry is needed, so this works where ``docker pull`` cannot reach one. The image
carries labels saying which suite it holds and when its packages were fetched::

    result = bootstrap_base_image("lockgate/debian:bookworm")
    result.image_id  # 'sha256:...'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.images.apt_sources import find_debian_mirror
from lockgate.images.engine_import import engine_client, image_changes, import_rootfs
from lockgate.images.rootfs import RootfsRecipe, default_cache_dir, rootfs_tarball

DEFAULT_TAG = "lockgate/debian:bookworm"
DEFAULT_SUITE = "bookworm"
DEFAULT_INCLUDE = ("python3", "python3-venv", "ca-certificates")

LABEL_SUITE = "org.lockgate.base.suite"
LABEL_DATE = "org.lockgate.base.date"
LABEL_MIRROR = "org.lockgate.base.mirror"
LABEL_PACKAGES = "org.lockgate.base.packages"
LABEL_CREATED = "org.opencontainers.image.created"


@dataclass(frozen=True)
class BootstrapResult:
    """The image that was tagged, and what it was made from."""

    tag: str
    image_id: str
    suite: str
    mirror: str
    created: dt.datetime
    tarball: Path
    rootfs_from_cache: bool


def base_image_labels(recipe: RootfsRecipe, created: dt.datetime) -> dict[str, str]:
    """The labels every bootstrapped image carries."""
    return {
        LABEL_SUITE: recipe.suite,
        LABEL_DATE: created.date().isoformat(),
        LABEL_MIRROR: recipe.mirror,
        LABEL_PACKAGES: ",".join(recipe.include),
        LABEL_CREATED: created.isoformat().replace("+00:00", "Z"),
    }


def bootstrap_base_image(
    tag: str = DEFAULT_TAG,
    *,
    suite: str = DEFAULT_SUITE,
    mirror: str | None = None,
    include: Sequence[str] = DEFAULT_INCLUDE,
    cache_dir: Path | None = None,
    client: Any | None = None,
    rebuild: bool = False,
) -> BootstrapResult:
    """Build (or reuse the cached rootfs of) ``suite`` and import it into the engine as ``tag``.

    ``mirror`` defaults to the machine's own Debian mirror from its apt sources. ``client`` is a
    ``docker.DockerClient``; without one, a client is made from the environment, or the
    ``docker`` command is used when the Python package is absent. ``rebuild`` ignores a cached
    rootfs tarball and replaces it.
    """
    # Ask for the engine first: a missing engine should fail before a 40 s debootstrap.
    engine = client if client is not None else engine_client()
    try:
        recipe = RootfsRecipe(
            suite=suite,
            mirror=(mirror or find_debian_mirror(suite)).rstrip("/"),
            include=tuple(include),
        )
        tarball = rootfs_tarball(recipe, cache_dir or default_cache_dir(), rebuild=rebuild)
        labels = base_image_labels(recipe, tarball.created)
        changes = image_changes(labels, {"LANG": "C.UTF-8"})
        image_id = import_rootfs(tarball.path, tag, changes, engine)
    finally:
        if client is None and engine is not None:
            engine.close()
    return BootstrapResult(
        tag=tag,
        image_id=image_id,
        suite=recipe.suite,
        mirror=recipe.mirror,
        created=tarball.created,
        tarball=tarball.path,
        rootfs_from_cache=tarball.from_cache,
    )
