"""A real Prometheus (Debian's ``prometheus``) started on loopback for one test module."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_prometheus(folder: Path, config: str) -> Iterator[str]:
    """Prometheus with ``config``, its data in ``folder``; yields its base URL once ready."""
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("LOCKGATE_REQUIRE_ENGINE") == "1":
            pytest.fail("prometheus is not installed (scripts/setup-test-env installs it)")
        pytest.skip(reason="prometheus is not installed (scripts/setup-test-env installs it)")
    (folder / "prometheus.yml").write_text(config)
    url = f"http://127.0.0.1:{free_port()}"
    log = (folder / "log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"prometheus did not start: {(folder / 'log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
