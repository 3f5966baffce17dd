"""Real components for supply-chain tests: two docker-registry processes (plain HTTP, and TLS
with htpasswd basic auth) started once per session, cosign key pairs, and the pinned trivy."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from lockgate.supply.image_ref import ImageRef
from lockgate.supply.oci_image import build_image, layer_from_files
from lockgate.supply.registry import RegistryClient
from lockgate.supply.tools import Cosign, ToolMissing, Trivy, find_cosign, find_trivy
from tests.conftest import unavailable

from .registry_server import RegistryServer, free_port, make_tls_material

KEY_PASSWORD = "correct horse battery"


def shared_fixtures() -> Path:
    """``../shared/fixtures`` beside the repository (LOCKGATE_SHARED_FIXTURES overrides)."""
    explicit = os.environ.get("LOCKGATE_SHARED_FIXTURES")
    if explicit:
        return Path(explicit)
    return Path(__file__).parents[2] / ".." / "shared" / "fixtures"


@pytest.fixture(scope="session")
def trivy_fixtures() -> Path:
    folder = shared_fixtures() / "trivy"
    if not (folder / "alpine-310.json").is_file():
        pytest.skip(
            reason=f"trivy golden reports not found at {folder} (../shared beside the clone)"
        )
    return folder


@pytest.fixture(scope="session")
def sarif_schema() -> Path:
    path = shared_fixtures() / "schemas" / "sarif-schema-2.1.0.json"
    if not path.is_file():
        pytest.skip(reason=f"SARIF schema not found at {path} (../shared beside the clone)")
    return path


@pytest.fixture(scope="session")
def trivy(request: pytest.FixtureRequest) -> Trivy:
    try:
        return find_trivy()
    except ToolMissing as exc:
        unavailable(request.config, f"trivy not installed: {exc}")


@pytest.fixture(scope="session")
def cosign(request: pytest.FixtureRequest) -> Cosign:
    try:
        return find_cosign()
    except ToolMissing as exc:
        unavailable(request.config, f"cosign not installed: {exc}")


def _need_registry(config: pytest.Config) -> None:
    if shutil.which("docker-registry") is None:
        unavailable(config, "docker-registry not installed (apt-get install docker-registry)")


@pytest.fixture(scope="session")
def plain_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryServer]:
    _need_registry(request.config)
    server = RegistryServer(tmp_path_factory.mktemp("registry-plain"), free_port()).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryServer]:
    _need_registry(request.config)
    if shutil.which("htpasswd") is None or shutil.which("openssl") is None:
        unavailable(
            request.config, "htpasswd (apache2-utils) and openssl are needed for the TLS registry"
        )
    root = tmp_path_factory.mktemp("registry-tls")
    server = RegistryServer(root, free_port(), tls=make_tls_material(root / "certs")).start()
    yield server
    server.stop()


def _key_pair(folder: Path, cosign: Cosign) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "COSIGN_PASSWORD": KEY_PASSWORD, "TUF_ROOT": str(folder / "tuf")}
    subprocess.run(
        [str(cosign.path), "generate-key-pair"],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
    )
    return folder / "cosign.key", folder / "cosign.pub"


@pytest.fixture(scope="session")
def key_pair(cosign: Cosign, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _key_pair(tmp_path_factory.mktemp("keys"), cosign)


@pytest.fixture(scope="session")
def other_key_pair(cosign: Cosign, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _key_pair(tmp_path_factory.mktemp("other-keys"), cosign)


PushImage = Callable[..., ImageRef]


@pytest.fixture(scope="session")
def push_image() -> PushImage:
    """Push a one- or two-layer image of ``files`` and return its reference by digest."""

    def push(
        server: RegistryServer,
        name: str,
        files: Mapping[str, bytes],
        labels: Mapping[str, str] | None = None,
        base: Mapping[str, bytes] | None = None,
    ) -> ImageRef:
        layers = [layer_from_files(base)] if base else []
        layers.append(layer_from_files(files))
        image = build_image(layers, labels=labels)
        return RegistryClient(server.access()).push_image(
            ImageRef.parse(f"{server.host}/{name}"), image
        )

    return push
