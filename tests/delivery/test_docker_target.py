"""The docker target against the real engine: a serving container that dies before answering
/ping is named with its last log lines, and removed (not left behind as a dead container); a
routing change counts as effective only once no worker of the old routing is left."""

from __future__ import annotations

import random
import threading
import time

import pytest

from lockgate.delivery.rollout.targets.base import Version
from lockgate.delivery.rollout.traffic import loopback_address, payload, send
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


def _workers(container) -> list[str]:
    """PIDs (inside the proxy) of nginx's workers that still take new connections."""
    script = (
        "for p in /proc/[0-9]*; do c=$(tr '\\0' ' ' < $p/cmdline 2>/dev/null); "
        'case "$c" in *"is shutting down"*) ;; "nginx: worker process"*) echo ${p#/proc/};; esac; '
        "done"
    )
    return container.exec_run(["sh", "-c", script]).output.decode().split()


def _signal(container, name: str, pid: str) -> None:
    result = container.exec_run(["sh", "-c", f"kill -{name} {pid}"])  # the shell's own kill
    assert result.exit_code == 0, result.output


def test_a_route_change_is_effective_only_once_the_old_worker_stops_accepting(
    deployment, serving_image, docker_client
):
    """An old nginx worker that has not yet handled its shutdown shares the listening socket with
    the new one; on a busy host it can be the one that accepts a request sent after the new
    generation answered. Frozen here, it stands for a worker the scheduler has not run yet."""
    d = deployment()
    version = Version(1, serving_image, ())
    d.target.start(version)
    d.target.route({version: 100})
    proxy = docker_client.containers.get(d.target.proxy_name)
    (old,) = _workers(proxy)
    _signal(proxy, "STOP", old)
    changes: list = []
    routing = threading.Thread(target=lambda: changes.append(d.target.route({version: 100})))
    routing.start()
    time.sleep(1.5)
    resumed = time.time()
    _signal(proxy, "CONT", old)
    routing.join(15)

    (change,) = changes
    assert change.effective_at > resumed, (change, resumed)
    (new,) = _workers(proxy)
    assert new != old
    host, port = loopback_address(d.target.url())
    assert send(host, port, payload(random.Random(1), 4, 8), 10.0).status == 200
