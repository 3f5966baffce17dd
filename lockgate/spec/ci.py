"""The ``ci:`` section of ``lockgate.yaml``: settings that only the generated CI files read.

``ci.images`` pins each public image the generated files name (the GitLab image job's own
image, its Docker engine service) to a digest: ``python:3.11-slim-bookworm@sha256:<64 hex>``.
The tag stays in the reference so a reader sees which version the digest is, and a registry
that moves the tag cannot change what CI runs. ``lockgate generate --pin-images`` looks the
digests up and writes this list; a hand-written entry is checked here, with its position.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field

from lockgate.errors import SpecError
from lockgate.spec.base import FrozenModel
from lockgate.spec.yamlpos import Loc, Positions, dotted

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_NAME_TAG = re.compile(r"[a-z0-9][a-z0-9._/-]*(?::[0-9]+)?(?:/[a-z0-9._-]+)*:[A-Za-z0-9_][\w.-]*")
PIN_HELP = "lockgate generate --pin-images looks the digest up and writes it"
# for the JSON Schema (editors); a spec is checked by check_ci first, with its position
PinnedImage = Annotated[str, Field(pattern=f"^{_NAME_TAG.pattern}@{DIGEST.pattern}$")]


class Ci(FrozenModel):
    """Settings of the generated CI files."""

    images: tuple[PinnedImage, ...] = Field(
        (),
        description="public images the generated CI files use, pinned as "
        "NAME:TAG@sha256:<64 hex> (written by `lockgate generate --pin-images`)",
    )

    def pin_of(self, image: str) -> str | None:
        """The pinned reference for ``image`` (``NAME:TAG``), or None when it floats."""
        return next((p for p in self.images if p.partition("@")[0] == image), None)


def split_pin(text: str) -> tuple[str, str]:
    """``NAME:TAG@sha256:...`` -> (``NAME:TAG``, ``sha256:...``); ValueError says what is wrong."""
    image, at, digest = text.partition("@")
    if not at:
        raise ValueError(f"{text!r} has no digest; pin it as {text}@sha256:<64 hex> ({PIN_HELP})")
    if not _NAME_TAG.fullmatch(image):
        raise ValueError(
            f"{text!r}: name the image with its tag, NAME:TAG@sha256:<64 hex>, so a reader sees "
            "which version the digest is"
        )
    if not DIGEST.fullmatch(digest):
        raise ValueError(
            f"{text!r}: the digest must be sha256: and 64 lowercase hex characters ({PIN_HELP})"
        )
    return image, digest


def check_ci(raw: Any, positions: Positions) -> None:
    """A located :class:`SpecError` for the first bad entry of ``ci.images``: a missing or
    malformed digest, an image listed twice, or one the generated files do not use."""
    if not isinstance(raw, dict) or not isinstance(raw.get("images"), list):
        return
    from lockgate.generator.public_images import PUBLIC_IMAGES  # the one list of them

    seen: dict[str, int] = {}
    for i, entry in enumerate(raw["images"]):
        loc: Loc = ("ci", "images", i)
        if not isinstance(entry, str):
            continue  # the model reports a value that is not text
        try:
            image, _ = split_pin(entry)
        except ValueError as exc:
            raise _fail(positions, loc, str(exc)) from None
        if image in seen:
            other = dotted(("ci", "images", seen[image]))
            raise _fail(positions, loc, f"{image} is pinned twice (also at {other}); keep one")
        if image not in PUBLIC_IMAGES:
            known = ", ".join(sorted(PUBLIC_IMAGES))
            raise _fail(
                positions,
                loc,
                f"the generated CI files use no image {image}; they use {known}. Remove the "
                "entry, or rewrite the list with lockgate generate --pin-images",
            )
        seen[image] = i


def _fail(positions: Positions, loc: Loc, message: str) -> SpecError:
    return SpecError(f"{positions.where(loc)}: {dotted(loc)}: {message}")
