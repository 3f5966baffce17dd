"""Session fixtures for stage tests: real OCI registries (distribution's ``docker-registry``) on
loopback, plain and with htpasswd auth, and a runner image with torch built from host wheels.

127.0.0.0/8 is an insecure registry for the engine by default, so plain HTTP needs no CA.
Setup: ``apt-get install -y docker-registry apache2-utils``; ``pip install torch==2.13.0``.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import unavailable

REGISTRY_USER = "packager"
REGISTRY_PASSWORD = "Rg-9fK2-pw-Zq7Lm"  # a value that appears nowhere else


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    process: subprocess.Popen[bytes]
    user: str = ""
    password: str = ""

    def manifest_digest(self, name: str, reference: str) -> str:
        """``Docker-Content-Digest`` of ``GET /v2/NAME/manifests/REF``, as the registry says."""
        request = urllib.request.Request(
            f"http://{self.host}/v2/{name}/manifests/{reference}",
            headers={
                "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                "application/vnd.oci.image.manifest.v1+json"
            },
        )
        if self.user:
            import base64

            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(response.headers["Docker-Content-Digest"])


def start_registry(folder: Path, htpasswd: Path | None = None) -> Registry:
    binary = shutil.which("docker-registry")
    if binary is None:
        raise FileNotFoundError("docker-registry")
    port = free_port()
    auth = f"auth: {{htpasswd: {{realm: lockgate-test, path: {htpasswd}}}}}\n" if htpasswd else ""
    (folder / "config.yml").write_text(
        "version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\n"
        f"storage: {{filesystem: {{rootdirectory: {folder / 'data'}}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n{auth}"
    )
    log = (folder / "registry.log").open("wb")
    proc = subprocess.Popen([binary, "serve", str(folder / "config.yml")], stdout=log, stderr=log)
    log.close()
    deadline = time.monotonic() + 15
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
            break
        except urllib.error.HTTPError:  # 401: up, and asking for credentials
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError((folder / "registry.log").read_text()[-500:]) from None
            time.sleep(0.05)
    return Registry(f"127.0.0.1:{port}", proc)


def stop_registry(registry: Registry) -> None:
    registry.process.terminate()
    try:
        registry.process.wait(10)
    except subprocess.TimeoutExpired:
        registry.process.kill()
        registry.process.wait()


@pytest.fixture(scope="session")
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, docker_client: Any
) -> Iterator[Registry]:
    """A plain-HTTP registry on 127.0.0.1 (no auth)."""
    try:
        reg = start_registry(tmp_path_factory.mktemp("registry"))
    except FileNotFoundError:
        unavailable(
            request.config, "docker-registry is not installed: apt-get install docker-registry"
        )
    yield reg
    stop_registry(reg)


@pytest.fixture(scope="session")
def auth_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, docker_client: Any
) -> Iterator[Registry]:
    """A registry that wants basic auth (htpasswd, bcrypt) for every request."""
    htpasswd_bin = shutil.which("htpasswd")
    if htpasswd_bin is None:
        unavailable(request.config, "htpasswd is not installed: apt-get install apache2-utils")
    folder = tmp_path_factory.mktemp("auth-registry")
    subprocess.run(
        [htpasswd_bin, "-Bbc", str(folder / "htpasswd"), REGISTRY_USER, REGISTRY_PASSWORD],
        check=True,
        capture_output=True,
    )
    try:
        reg = start_registry(folder, folder / "htpasswd")
    except FileNotFoundError:
        unavailable(
            request.config, "docker-registry is not installed: apt-get install docker-registry"
        )
    reg.user, reg.password = REGISTRY_USER, REGISTRY_PASSWORD
    yield reg
    stop_registry(reg)


@pytest.fixture(scope="session")
def torch_image(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    docker_client: Any,
    base_image: str,
) -> str:
    """A base image with torch 2.13.0 installed from host-downloaded wheels (built once; the tag
    is a digest of its recipe, so later sessions reuse it)."""
    pytest.importorskip("torch", reason="torch is not installed: pip install torch==2.13.0")
    from lockgate.engine.stagespec import ImageRecipe
    from lockgate.images.runner import RunnerImages

    requirements = tmp_path_factory.mktemp("torch-image") / "requirements.txt"
    requirements.write_text("torch==2.13.0\n")
    image_id = docker_client.images.get(base_image).id
    digest = hashlib.sha256(f"{image_id}\n{requirements.read_text()}".encode()).hexdigest()
    recipe = ImageRecipe(
        digest=f"sha256:{digest}",
        tag=f"lockgate-test/torch-serving:{digest[:20]}",
        base=base_image,
        requirements=str(requirements),
        install_lockgate=False,
    )
    RunnerImages(docker_client).ensure(recipe, lambda line: None)
    return recipe.tag
