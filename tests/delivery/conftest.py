"""Fixtures for the delivery tests: the stand-in serving image, a docker target per test, and a
bounded load generator. Each test gets its own environment name, so its containers, network and
state never meet another test's; everything is removed afterwards."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.delivery.config import EnvironmentDelivery
from lockgate.delivery.rollout.rollouts import Rollouts
from lockgate.delivery.rollout.state import StateStore
from lockgate.delivery.rollout.targets.docker import DockerTarget

STUB_DIR = Path(__file__).parent / "serving_stub"
_COUNTER = itertools.count()


@pytest.fixture(scope="session")
def serving_image(docker_client: Any, base_image: str) -> str:
    """The stub serving image (see serving_stub/server.py), built once per session."""
    tag = "lockgate-test/serving-stub:latest"
    docker_client.images.build(
        path=str(STUB_DIR),
        tag=tag,
        buildargs={"BASE": base_image},
        rm=True,
        network_mode="host",
    )
    return tag


@pytest.fixture(scope="session")
def proxy_image(docker_client: Any, base_image: str) -> str:
    from lockgate.delivery.rollout.targets.proxy_image import build_proxy_image

    return build_proxy_image(docker_client, base_image)


def settings(**overrides: Any) -> EnvironmentDelivery:
    """Short windows so a test stays within seconds."""
    raw: dict[str, Any] = {
        "canary": {
            "steps": [
                {"weight": 10, "pause": {"duration": 1.5}},
                {"weight": 25, "pause": {"duration": 1.0}},
                {"weight": 50, "pause": {"duration": 1.0}},
                {"weight": 100},
            ]
        },
        # short windows keep the suite fast: ~6 canary requests at 10%, so the drift guard is
        # lowered to what such a window holds (its default, 50, is tested in test_analysis)
        "analysis": {"min_requests": 5, "min_predictions": 5, "max_extensions": 2, "window_s": 1.0},
        "docker": {"drain_s": 0.3, "ready_timeout_s": 30},
        "blue_green": {"smoke_requests": 10, "keep_old_s": 60},
    }
    for key, value in overrides.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return EnvironmentDelivery.model_validate(raw)


class Deployment:
    """One test environment: settings, target, store and controller, torn down at the end."""

    def __init__(self, env: str, root: Path, client: Any, base: str, **overrides: Any) -> None:
        self.env = env
        self.root = root
        self.settings = settings(**overrides)
        self.store = StateStore(root / ".lockgate" / "state" / "delivery")
        self.target = DockerTarget(
            env, self.settings, self.store.folder, client=client, base_image=base
        )
        self.rollouts = Rollouts(env, self.settings, self.target, self.store)


@pytest.fixture
def deployment(
    tmp_path: Path, docker_client: Any, base_image: str, serving_image: str, proxy_image: str
) -> Iterator[Any]:
    made: list[Deployment] = []

    def make(**overrides: Any) -> Deployment:
        env = f"t{os.getpid()}x{next(_COUNTER)}"
        d = Deployment(env, tmp_path, docker_client, base_image, **overrides)
        made.append(d)
        return d

    yield make
    for d in made:
        d.target.teardown()
