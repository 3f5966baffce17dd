"""Importing a rootfs tarball into the real engine, through the SDK and through the CLI."""

from __future__ import annotations

import io
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.errors import ExecutorUnavailable
from lockgate.images.engine_import import (
    engine_client,
    image_changes,
    import_rootfs,
    split_tag,
)
from tests.conftest import required_by_env

LABELS = {"org.lockgate.base.suite": "bookworm", "org.lockgate.test": "two words"}


def tiny_rootfs(folder: Path) -> Path:
    """A one-file root filesystem: enough for the engine to import and inspect."""
    tarball = folder / "tiny.tar"
    with tarfile.open(tarball, "w") as archive:
        payload = b"hello\n"
        member = tarfile.TarInfo("etc/lockgate-test")
        member.size = len(payload)
        archive.addfile(member, io.BytesIO(payload))
    return tarball


@pytest.fixture
def scratch_tag(docker_client: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    tag = f"lockgate-test/import:{request.node.name.replace('_', '-')[:60]}"
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("lockgate/debian:bookworm", ("lockgate/debian", "bookworm")),
        ("lockgate/debian", ("lockgate/debian", "latest")),
        ("127.0.0.1:5000/team/model:1.2", ("127.0.0.1:5000/team/model", "1.2")),
        ("127.0.0.1:5000/team/model", ("127.0.0.1:5000/team/model", "latest")),
    ],
)
def test_split_tag(tag: str, expected: tuple[str, str]) -> None:
    assert split_tag(tag) == expected


def test_changes_quote_label_values_and_set_a_shell_command() -> None:
    assert image_changes(LABELS, {"LANG": "C.UTF-8"}) == [
        'LABEL "org.lockgate.base.suite"="bookworm"',
        'LABEL "org.lockgate.test"="two words"',
        "ENV LANG=C.UTF-8",
        'CMD ["bash"]',
    ]


def test_no_engine_is_an_error_that_says_what_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("docker", reason="the docker package is in the [docker] extra")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    with pytest.raises(ExecutorUnavailable, match=r"no container engine answers at unix://.*start"):
        engine_client()


@pytest.mark.skipif(
    shutil.which("docker") is None and not required_by_env(),
    reason="the docker command is not installed",
)
def test_no_engine_through_the_cli_is_the_same_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    with pytest.raises(ExecutorUnavailable, match=r"no container engine answers"):
        import_rootfs(tiny_rootfs(tmp_path), "lockgate-test/never:1", [], client=None)


@pytest.mark.docker
def test_import_through_the_sdk_tags_and_labels_the_image(
    docker_client: Any, scratch_tag: str, tmp_path: Path
) -> None:
    changes = image_changes(LABELS, {"LANG": "C.UTF-8"})
    image_id = import_rootfs(tiny_rootfs(tmp_path), scratch_tag, changes, docker_client)
    image = docker_client.images.get(scratch_tag)
    assert image.id == image_id
    assert image.labels == LABELS
    assert "LANG=C.UTF-8" in image.attrs["Config"]["Env"]
    assert image.attrs["Config"]["Cmd"] == ["bash"]


@pytest.mark.docker
@pytest.mark.skipif(
    shutil.which("docker") is None and not required_by_env(),
    reason="the docker command is not installed",
)
def test_import_through_the_cli_gives_the_same_image_config(
    docker_client: Any, scratch_tag: str, tmp_path: Path
) -> None:
    changes = image_changes(LABELS, {"LANG": "C.UTF-8"})
    image_id = import_rootfs(tiny_rootfs(tmp_path), scratch_tag, changes, client=None)
    image = docker_client.images.get(scratch_tag)
    assert image.id == image_id
    assert image.labels == LABELS
    assert image.attrs["Config"]["Cmd"] == ["bash"]
