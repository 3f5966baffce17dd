"""The runner image holds lockgate's source already compiled: the image sets
PYTHONDONTWRITEBYTECODE, so without bytecode built in, every stage process would compile
lockgate's modules from source on start-up. Built through the real engine."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from lockgate.engine.stagespec import ImageRecipe
from lockgate.images.runner import RunnerImages

PROBE = (
    "import importlib.util, os, lockgate.commands, lockgate.stages.data_check.check as m\n"
    "for mod in (lockgate.commands, m):\n"
    "    print(os.path.exists(importlib.util.cache_from_source(mod.__file__)))\n"
)


def test_lockgate_source_in_the_runner_image_is_compiled(
    docker_client: Any, base_image: str
) -> None:
    digest = hashlib.sha256(f"bytecode-{uuid.uuid4()}".encode()).hexdigest()
    recipe = ImageRecipe(
        digest=f"sha256:{digest}", tag=f"lockgate-test/bytecode:{digest[:20]}", base=base_image
    )
    RunnerImages(docker_client).ensure(recipe, lambda line: None)
    try:
        out = docker_client.containers.run(
            recipe.tag, ["/opt/lockgate/bin/python3", "-c", PROBE], remove=True
        )
        assert out.decode().split() == ["True", "True"]
    finally:
        docker_client.images.remove(recipe.tag, force=True)
