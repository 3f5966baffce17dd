"""A ``lockgate/debian`` base in a CI job's engine: already there, pulled from the registry copy
the image job keeps next to the runner image, or refused with a clear message when it cannot be
bootstrapped. Real engine, real registry 2.8 on loopback.

The bootstrap-and-push branch is not run here: it needs an engine without
``lockgate/debian:bookworm``, and the test engine is shared with every other test that uses that
base. Its parts (debootstrap, import, push) are tested on their own in test_bootstrap.py and by
the image job's push."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from lockgate.errors import LockgateError
from lockgate.images.base_mirror import ensure_base, is_own_base, mirror_ref
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.registry import RegistryClient
from lockgate.supply.registry_http import RegistryAccess
from tests.supply.conftest import _need_registry
from tests.supply.registry_server import RegistryServer, free_port


def test_mirror_sits_next_to_the_runner_image() -> None:
    repo = "registry.example.com/group/project/runner"
    assert mirror_ref("lockgate/debian:bookworm", repo) == f"{repo}/base-debian:bookworm"
    assert is_own_base("lockgate/debian:trixie")
    assert not is_own_base("python:3.11-slim-bookworm")
    assert not is_own_base(None)


@pytest.fixture(scope="module")
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryServer]:
    _need_registry(request.config)
    server = RegistryServer(tmp_path_factory.mktemp("base-registry"), free_port()).start()
    yield server
    server.stop()


def _has(server: RegistryServer) -> Any:
    client = RegistryClient(RegistryAccess(server.host, plain_http=True))
    return lambda ref: client.find(ImageRef.parse(ref)) is not None


def test_a_base_in_the_engine_is_used_as_it_is(
    docker_client: Any, base_image: str, registry: RegistryServer
) -> None:
    said: list[str] = []
    how = ensure_base(
        base_image,
        f"{registry.host}/team/runner",
        docker_client,
        said.append,
        registry_has=_has(registry),
    )
    assert (how, said) == ("present", [])


def test_a_missing_base_is_pulled_from_the_registry_copy(
    docker_client: Any, base_image: str, registry: RegistryServer, tmp_path: Path
) -> None:
    suite = f"test-{uuid.uuid4().hex[:10]}"  # a tag no engine has: as in a fresh CI engine
    base, repository = f"lockgate/debian:{suite}", f"{registry.host}/team/runner"
    mirror = mirror_ref(base, repository)
    mirror_repo, _, tag = mirror.rpartition(":")
    docker_client.images.get(base_image).tag(mirror_repo, tag)
    try:
        for chunk in docker_client.api.push(mirror_repo, tag=tag, stream=True, decode=True):
            assert "error" not in chunk, chunk
        docker_client.images.remove(mirror)
        said: list[str] = []
        how = ensure_base(base, repository, docker_client, said.append, registry_has=_has(registry))
        assert how == "pulled"
        assert said == [f"lockgate: pulling base image {base} from {mirror}"]
        assert docker_client.images.get(base).id == docker_client.images.get(base_image).id
    finally:
        for ref in (base, mirror):
            with contextlib.suppress(docker.errors.ImageNotFound):  # absent if failed early
                docker_client.images.remove(ref)


def test_a_base_that_cannot_be_bootstrapped_is_one_clear_error(
    docker_client: Any, registry: RegistryServer
) -> None:
    base = f"lockgate/alpine:{uuid.uuid4().hex[:8]}"
    with pytest.raises(LockgateError, match=r"only lockgate/debian:SUITE can be bootstrapped"):
        ensure_base(
            base, f"{registry.host}/team/runner", docker_client, print, registry_has=_has(registry)
        )
