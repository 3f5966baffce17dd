"""Hand registry credentials and a CA to trivy and cosign without putting them on a command
line: environment variables of the child process only, and a private docker config folder that
is deleted afterwards."""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lockgate.supply.registry_http import RegistryAccess


@dataclass(frozen=True)
class ToolAuth:
    trivy_env: dict[str, str] = field(default_factory=dict, repr=False)
    cosign_env: dict[str, str] = field(default_factory=dict, repr=False)
    cosign_flags: tuple[str, ...] = ()


def _system_bundle() -> str:
    explicit = os.environ.get("SSL_CERT_FILE", "")
    if explicit and Path(explicit).is_file():
        return Path(explicit).read_text()
    default = ssl.get_default_verify_paths().cafile
    return Path(default).read_text() if default and Path(default).is_file() else ""


@contextmanager
def tool_auth(access: RegistryAccess | None) -> Iterator[ToolAuth]:
    if access is None:
        yield ToolAuth()
        return
    with tempfile.TemporaryDirectory(prefix="lockgate-auth-") as tmp:
        folder = Path(tmp)
        trivy_env: dict[str, str] = {}
        cosign_env: dict[str, str] = {}
        flags: list[str] = []
        if access.ca_file is not None:
            bundle = folder / "ca-bundle.pem"
            bundle.write_text(_system_bundle() + "\n" + access.ca_file.read_text())
            trivy_env["SSL_CERT_FILE"] = cosign_env["SSL_CERT_FILE"] = str(bundle)
            flags.append(f"--registry-cacert={access.ca_file}")
        if access.username:
            trivy_env["TRIVY_USERNAME"] = access.username
            trivy_env["TRIVY_PASSWORD"] = access.password
            token = base64.b64encode(f"{access.username}:{access.password}".encode()).decode()
            config = folder / "docker"
            config.mkdir(mode=0o700)
            (config / "config.json").write_text(
                json.dumps({"auths": {access.host: {"auth": token}}})
            )
            cosign_env["DOCKER_CONFIG"] = str(config)
        if access.plain_http:
            flags.append("--allow-http-registry=true")
        yield ToolAuth(trivy_env, cosign_env, tuple(flags))
