"""Where the Dagger executor meets a real engine: whether one answers, and handing a stage the
host's container engine socket (``engine: true``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockgate.engine.stagespec import StageSpec
from lockgate.errors import LockgateError

if TYPE_CHECKING:
    from dagger import Client, Container


def with_engine_socket(dag: Client, ctr: Container, spec: StageSpec) -> Container:
    """``engine: true``: the host engine's API socket, forwarded by the Dagger session, at the
    path and ``DOCKER_HOST`` the Docker executor uses too."""
    from lockgate.executors.docker import ENGINE_SOCKET_IN_CONTAINER, engine_socket

    socket = engine_socket()
    if socket is None:
        raise LockgateError(
            f"stage {spec.name}: engine: true needs the container engine's unix socket on this "
            "host (DOCKER_HOST=unix://PATH, default /var/run/docker.sock) and none was found"
        )
    ctr = ctr.with_unix_socket(ENGINE_SOCKET_IN_CONTAINER, dag.host().unix_socket(str(socket)))
    return ctr.with_env_variable("DOCKER_HOST", f"unix://{ENGINE_SOCKET_IN_CONTAINER}")


def engine_answers(port: str, token: str, timeout: float = 2.0) -> bool:
    """Whether a Dagger engine session on ``127.0.0.1:port`` answers a trivial GraphQL query
    with the session's token."""
    import base64
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/query",
        data=json.dumps({"query": "{ __typename }"}).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(f"{token}:".encode()).decode(),
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = json.loads(answer.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return isinstance(body, dict) and isinstance(body.get("data"), dict)
