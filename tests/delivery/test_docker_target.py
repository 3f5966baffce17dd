"""The docker target against the real engine: a serving container that dies before answering
/ping is named with its last log lines, and removed (not left behind as a dead container)."""

from __future__ import annotations

import pytest

from lockgate.delivery.rollout.targets.base import Version
from lockgate.errors import LockgateError


def test_a_failed_start_removes_its_container(deployment, base_image, docker_client):
    d = deployment()
    version = Version(1, base_image, (("WHY", "no server here"),))
    name = d.target.container_name(version)
    # the base image has no server: its default command exits at once
    with pytest.raises(LockgateError, match=rf"^{name} exited before answering "):
        d.target.start(version)
    assert docker_client.containers.list(all=True, filters={"name": f"^/{name}$"}) == []
    assert not d.target.running(version)
