"""The base image scripts/setup-test-env bootstraps, and bootstrap_base_image end to end.

The image checks run in the real engine against the real debootstrap-built image. The end-to-end
checks feed bootstrap_base_image a cached rootfs (a one-file tarball), so they take a second
instead of a 40 s debootstrap; the cache entry is written exactly as a real build writes it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.__main__ import main as lockgate_main
from lockgate.errors import ExecutorUnavailable
from lockgate.images.bootstrap import (
    LABEL_CREATED,
    LABEL_DATE,
    LABEL_MIRROR,
    LABEL_PACKAGES,
    LABEL_SUITE,
    bootstrap_base_image,
)
from lockgate.images.rootfs import RootfsRecipe
from tests.images.test_engine_import import tiny_rootfs

MIRROR = "http://mirror.example/debian"


def main(argv: list[str]) -> int:
    """``lockgate image bootstrap ARGV`` through the real entry point."""
    return lockgate_main(["image", "bootstrap", *argv])


CREATED = dt.datetime(2025, 5, 20, 12, 30, tzinfo=dt.UTC)


def run_in(client: Any, image: str, argv: list[str]) -> str:
    return client.containers.run(image, argv, remove=True, network_disabled=True).decode()


@pytest.mark.docker
def test_python3_runs_in_the_base_image(docker_client: Any, base_image: str) -> None:
    assert run_in(docker_client, base_image, ["python3", "-c", "print(1)"]) == "1\n"


@pytest.mark.docker
def test_python3_can_make_a_venv_in_the_base_image(docker_client: Any, base_image: str) -> None:
    script = "python3 -m venv --without-pip /tmp/v && /tmp/v/bin/python -c 'print(2)'"
    assert run_in(docker_client, base_image, ["sh", "-c", script]) == "2\n"


@pytest.mark.docker
def test_base_image_has_no_apt_lists_or_package_caches(docker_client: Any, base_image: str) -> None:
    listing = run_in(
        docker_client,
        base_image,
        ["find", "/var/lib/apt/lists", "/var/cache/apt", "/var/log", "-type", "f"],
    )
    assert listing == ""


@pytest.mark.docker
def test_base_image_is_labelled_with_suite_and_date(docker_client: Any, base_image: str) -> None:
    labels = docker_client.images.get(base_image).labels
    assert labels[LABEL_SUITE] == "bookworm"
    assert dt.date.fromisoformat(labels[LABEL_DATE]) <= dt.datetime.now(dt.UTC).date()
    assert labels[LABEL_CREATED].startswith(labels[LABEL_DATE] + "T")
    assert "python3" in labels[LABEL_PACKAGES].split(",")
    assert labels[LABEL_MIRROR].startswith(("http://", "https://", "file:/"))


def cached_rootfs(cache_dir: Path, include: tuple[str, ...]) -> RootfsRecipe:
    """Put a rootfs into the cache the way rootfs_tarball stores a finished build."""
    recipe = RootfsRecipe(suite="bookworm", mirror=MIRROR, include=include)
    tarball = tiny_rootfs(cache_dir).rename(cache_dir / f"debian-bookworm-{recipe.key}.tar")
    tarball.with_suffix(".json").write_text(json.dumps({"created": CREATED.isoformat()}))
    return recipe


@pytest.fixture
def scratch_tag(docker_client: Any) -> Iterator[str]:
    tag = "lockgate-test/bootstrap:cached"
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.mark.docker
def test_bootstrap_from_a_cached_rootfs_tags_a_labelled_image(
    docker_client: Any, scratch_tag: str, tmp_path: Path
) -> None:
    cached_rootfs(tmp_path, ("python3",))
    result = bootstrap_base_image(
        scratch_tag,
        mirror=MIRROR + "/",
        include=("python3",),
        cache_dir=tmp_path,
        client=docker_client,
    )
    assert result.rootfs_from_cache
    assert (result.suite, result.mirror, result.created) == ("bookworm", MIRROR, CREATED)
    image = docker_client.images.get(scratch_tag)
    assert image.id == result.image_id
    assert image.labels == {
        LABEL_SUITE: "bookworm",
        LABEL_DATE: "2025-05-20",
        LABEL_MIRROR: MIRROR,
        LABEL_PACKAGES: "python3",
        LABEL_CREATED: "2025-05-20T12:30:00Z",
    }


@pytest.mark.docker
def test_bootstrap_command_prints_tag_and_image_id(
    docker_client: Any, scratch_tag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cached_rootfs(tmp_path, ("python3", "git"))
    argv = ["--tag", scratch_tag, "--mirror", MIRROR, "--include", "python3,git"]
    assert main([*argv, "--cache-dir", str(tmp_path)]) == 0
    image_id = docker_client.images.get(scratch_tag).id
    out = capsys.readouterr().out
    assert out == f"{scratch_tag} {image_id} (bookworm from {MIRROR}, cached rootfs)\n"


def test_no_engine_fails_before_debootstrap_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("docker", reason="the docker package is in the [docker] extra")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    cache_dir = tmp_path / "cache"
    with pytest.raises(ExecutorUnavailable):
        bootstrap_base_image("lockgate-test/never:1", mirror=MIRROR, cache_dir=cache_dir)
    assert not cache_dir.exists()
    assert main(["--tag", "lockgate-test/never:1", "--cache-dir", str(cache_dir)]) == 2
    assert capsys.readouterr().err.startswith(
        "lockgate: error: no container engine answers at unix://"
    )
