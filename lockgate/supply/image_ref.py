"""Image references, and the rule that a gate only ever talks about a digest."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lockgate.errors import LockgateError

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class ImageRefError(LockgateError):
    """An image reference that is malformed or not pinned by digest."""


@dataclass(frozen=True)
class ImageRef:
    registry: str  # host[:port]
    repository: str
    tag: str = ""
    digest: str = ""

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        rest, _, digest = text.partition("@")
        if digest and not _DIGEST.match(digest):
            raise ImageRefError(f"{text}: digest must look like sha256:<64 hex>")
        first, slash, remainder = rest.partition("/")
        if not slash or not ("." in first or ":" in first or first == "localhost"):
            raise ImageRefError(f"{text}: name the registry host, e.g. registry.example:5000/app")
        repository, tag = remainder, ""
        if ":" in remainder.rsplit("/", 1)[-1]:
            repository, _, tag = remainder.rpartition(":")
        if not repository:
            raise ImageRefError(f"{text}: missing repository name")
        return cls(first, repository, tag, digest)

    @classmethod
    def pinned(cls, text: str) -> ImageRef:
        """Parse ``text`` and insist on a digest: tags move, digests do not."""
        ref = cls.parse(text)
        if not ref.digest:
            raise ImageRefError(
                f"pin by digest: {text} names a tag; use {ref.registry}/{ref.repository}@sha256:..."
            )
        return ref

    def with_digest(self, digest: str) -> ImageRef:
        return ImageRef(self.registry, self.repository, "", digest)

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag or 'latest'}"
