from __future__ import annotations

import pytest

from lockgate.supply.image_ref import ImageRef, ImageRefError

DIGEST = "sha256:" + "ab" * 32


def test_parse_registry_repository_tag_and_digest() -> None:
    ref = ImageRef.parse(f"127.0.0.1:5000/team/model:v1@{DIGEST}")
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        "127.0.0.1:5000",
        "team/model",
        "v1",
        DIGEST,
    )
    assert str(ref) == f"127.0.0.1:5000/team/model@{DIGEST}"
    assert ImageRef.parse("registry.example/app").tag == ""


def test_tag_without_digest_is_refused_with_the_fix() -> None:
    with pytest.raises(
        ImageRefError,
        match=r"^pin by digest: registry\.example/app:v1 names a "
        r"tag; use registry\.example/app@sha256:\.\.\.$",
    ):
        ImageRef.pinned("registry.example/app:v1")


def test_malformed_references() -> None:
    with pytest.raises(ImageRefError, match="digest must look like"):
        ImageRef.parse("registry.example/app@sha256:xyz")
    with pytest.raises(ImageRefError, match="name the registry host"):
        ImageRef.parse("app:v1")
