"""Image and model references as promotion reads them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lockgate.errors import LockgateError

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_MODEL = re.compile(r"^(?:models:/)?(?P<name>[^/@]+)/(?P<version>\d+)$")


@dataclass(frozen=True)
class ImageRef:
    repository: str  # REG/NAME, without tag or digest
    digest: str

    def __str__(self) -> str:
        return f"{self.repository}@{self.digest}"

    @property
    def registry(self) -> str:
        return self.repository.split("/", 1)[0]


def parse_image(ref: str) -> ImageRef:
    repository, sep, digest = ref.partition("@")
    if not sep or not _DIGEST.match(digest) or not repository:
        raise LockgateError(
            f"--image {ref!r}: give the image by digest, REGISTRY/NAME@sha256:<64 hex> "
            "(a tag can move; a digest cannot)"
        )
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]  # drop a tag written beside the digest
    return ImageRef(repository, digest)


def check_digest(digest: str, flag: str = "--digest") -> str:
    if not _DIGEST.match(digest):
        raise LockgateError(f"{flag} {digest!r}: expected sha256:<64 lowercase hex digits>")
    return digest


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str

    def __str__(self) -> str:
        return f"models:/{self.name}/{self.version}"


def parse_model(text: str) -> ModelRef:
    m = _MODEL.match(text)
    if m is None:
        raise LockgateError(
            f"--model {text!r}: expected models:/NAME/VERSION, e.g. models:/fraud/3"
        )
    return ModelRef(m["name"], m["version"])


def short(digest: str | None) -> str:
    return (digest or "-")[:19]
