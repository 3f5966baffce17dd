"""The runner image as the real engine builds it. It holds lockgate's source already compiled:
the image sets PYTHONDONTWRITEBYTECODE, so without bytecode built in, every stage process would
compile lockgate's modules from source on start-up. And none of its layers holds the wheels its
Python packages were installed from: a file removed in a later layer still weighs in the image
and in every push and pull of it, and of every image built on it."""

from __future__ import annotations

import hashlib
import io
import tarfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from lockgate.engine.stagespec import ImageRecipe
from lockgate.images.runner import RunnerImages

PROBE = (
    "import importlib.util, os, lockgate.commands, lockgate.stages.data_check.check as m\n"
    "for mod in (lockgate.commands, m):\n"
    "    print(os.path.exists(importlib.util.cache_from_source(mod.__file__)))\n"
)


@pytest.fixture(scope="module")
def runner(docker_client: Any, base_image: str) -> Iterator[str]:
    digest = hashlib.sha256(f"bytecode-{uuid.uuid4()}".encode()).hexdigest()
    recipe = ImageRecipe(
        digest=f"sha256:{digest}", tag=f"lockgate-test/bytecode:{digest[:20]}", base=base_image
    )
    RunnerImages(docker_client).ensure(recipe, lambda line: None)
    yield recipe.tag
    docker_client.images.remove(recipe.tag, force=True)


def test_lockgate_source_in_the_runner_image_is_compiled(docker_client: Any, runner: str) -> None:
    out = docker_client.containers.run(
        runner, ["/opt/lockgate/bin/python3", "-c", PROBE], remove=True
    )
    assert out.decode().split() == ["True", "True"]


def test_no_layer_of_the_runner_image_holds_the_wheels(docker_client: Any, runner: str) -> None:
    saved = io.BytesIO(b"".join(docker_client.images.get(runner).save(named=True)))
    with tarfile.open(fileobj=saved) as image:
        layers = [m for m in image.getmembers() if m.name.endswith("layer.tar")]
        assert layers
        names = []
        for member in layers:
            layer = image.extractfile(member)
            assert layer is not None
            with tarfile.open(fileobj=layer) as files:
                names += files.getnames()
    installed = [n for n in names if n.startswith("opt/lockgate/lib/") and "/pydantic/" in n]
    assert installed  # the packages are there, installed from the wheels
    assert not [n for n in names if "lockgate-wheels" in n]
