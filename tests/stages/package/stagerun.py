"""Run the package stage in-process on a throw-away stage layout, and run its image."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lockgate.stages.context import StageContext


def stage_context(
    root: Path, with_: dict[str, Any], secrets: dict[str, str] | None = None
) -> StageContext:
    for sub in ("ws", "in", "out", "secrets", "state"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name, value in (secrets or {}).items():
        (root / "secrets" / name).write_text(value + "\n")
    return StageContext(
        workspace=root / "ws",
        inputs=root / "in",
        out=root / "out",
        secrets_dir=root / "secrets",
        state=root / "state",
        run_id="r-test",
        stage="package",
        git_sha="0123456789abcdef0123456789abcdef01234567",
        with_=with_,
    )


def request(port: int, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@contextmanager
def serving(client: Any, ref: str, **options: Any) -> Iterator[tuple[Any, int]]:
    """Start the image with its port published on loopback; yield (container, host port) once
    /ping answers; remove the container afterwards."""
    container = client.containers.run(
        ref, detach=True, ports={"8080/tcp": ("127.0.0.1", None)}, **options
    )
    try:
        deadline = time.monotonic() + 60
        port = 0
        while True:
            container.reload()
            if container.status == "exited":
                raise AssertionError(container.logs().decode()[-2000:])
            bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get("8080/tcp")
            if bindings:
                port = int(bindings[0]["HostPort"])
                try:
                    if request(port, "GET", "/ping")[0] == 200:
                        break
                except (OSError, http.client.HTTPException):
                    pass
            if time.monotonic() > deadline:
                raise AssertionError("no /ping: " + container.logs().decode()[-2000:])
            time.sleep(0.1)
        yield container, port
    finally:
        container.remove(force=True)
