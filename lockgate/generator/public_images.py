"""Every public image the generated CI files name, in one table.

The stage jobs run the runner image by the digest the image job outputs, so these are the only
references a generated file makes to somebody else's image. Each is written as ``NAME:TAG``
until the spec pins it (``ci.images``, written by ``lockgate generate --pin-images``); then the
files name ``NAME:TAG@sha256:...``, which no registry can move. A new image in a renderer is
added here, or the test over the generated files fails.
"""

from __future__ import annotations

from dataclasses import dataclass

DOCKER_HUB = "registry-1.docker.io"  # where a name without a registry host is pulled from


@dataclass(frozen=True)
class PublicImage:
    image: str  # NAME:TAG, as the files name it while it floats
    used_for: str
    providers: tuple[str, ...]


BUILDER = PublicImage(
    "python:3.11-slim-bookworm",
    "the GitLab image job's own image (LOCKGATE_BUILDER_IMAGE): Python to run lockgate",
    ("gitlab",),
)
DIND = PublicImage(
    "docker:27-dind",
    "the GitLab image job's Docker engine service that builds the runner image",
    ("gitlab",),
)

PUBLIC_IMAGES: dict[str, PublicImage] = {i.image: i for i in (BUILDER, DIND)}


def pin_hint(image: str, provider: str = "PROVIDER") -> str:
    """What to run so that ``image`` is named by digest."""
    return (
        f"pin it: lockgate generate {provider} --pin-images (looks the digest up and writes "
        f"ci.images in the spec), or add {image}@sha256:<digest> to ci.images yourself"
    )
