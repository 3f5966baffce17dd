"""A real ``docker-registry`` process for tests: plain HTTP, or TLS with htpasswd auth."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lockgate.supply.registry_http import RegistryAccess

USER, PASSWORD = "lockgate", "s3cret-registry-pass"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_tls_material(folder: Path) -> tuple[Path, Path, Path, Path]:
    """A test CA, a server cert for 127.0.0.1/localhost, and a bundle of system CAs + test CA."""
    folder.mkdir(parents=True, exist_ok=True)
    run = lambda *args: subprocess.run(args, cwd=folder, check=True, capture_output=True)  # noqa: E731
    run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=lockgate test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    run(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run(
        "openssl",
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    )
    system = os.environ.get("SSL_CERT_FILE") or ssl.get_default_verify_paths().cafile or ""
    bundle = folder / "bundle.pem"
    base = Path(system).read_text() if system and Path(system).is_file() else ""
    bundle.write_text(base + "\n" + (folder / "ca.crt").read_text())
    return folder / "ca.crt", folder / "server.crt", folder / "server.key", bundle


@dataclass
class RegistryServer:
    root: Path
    port: int
    tls: tuple[Path, Path, Path, Path] | None = None  # ca, cert, key, bundle
    process: subprocess.Popen[bytes] | None = None
    # (realm, service, issuer, signing certificate): Docker token auth instead of htpasswd
    token_auth: tuple[str, str, str, Path] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def access(self, username: str = USER, password: str = PASSWORD) -> RegistryAccess:
        if self.tls is None:
            return RegistryAccess(self.host, plain_http=True)
        return RegistryAccess(self.host, username, password, ca_file=self.tls[0])

    def config_text(self) -> str:
        lines = [
            "version: 0.1",
            "log: {level: error, accesslog: {disabled: true}}",
            f"storage: {{filesystem: {{rootdirectory: {self.root / 'data'}}}, "
            "delete: {enabled: true}}",
            f"http: {{addr: {self.host}",
        ]
        if self.tls is not None:
            lines[-1] += f", tls: {{certificate: {self.tls[1]}, key: {self.tls[2]}}}"
        lines[-1] += "}"
        if self.token_auth is not None:
            realm, service, issuer, bundle = self.token_auth
            lines.append(
                f"auth: {{token: {{realm: '{realm}', service: {service}, issuer: {issuer}, "
                f"rootcertbundle: {bundle}}}}}"
            )
        elif self.tls is not None:
            lines.append(f"auth: {{htpasswd: {{realm: lockgate, path: {self.root / 'htpasswd'}}}}}")
        return "\n".join(lines) + "\n"

    def start(self) -> RegistryServer:
        if shutil.which("docker-registry") is None:
            raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
        self.root.mkdir(parents=True, exist_ok=True)
        if self.tls is not None and self.token_auth is None:
            subprocess.run(
                ["htpasswd", "-Bbc", str(self.root / "htpasswd"), USER, PASSWORD],
                check=True,
                capture_output=True,
            )
        config = self.root / "config.yml"
        config.write_text(self.config_text())
        with (self.root / "registry.log").open("ab") as log:
            self.process = subprocess.Popen(
                ["docker-registry", "serve", str(config)],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        scheme = "https" if self.tls else "http"
        context = ssl.create_default_context(cafile=str(self.tls[0])) if self.tls else None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"registry exited: {(self.root / 'registry.log').read_text()}")
            try:
                urllib.request.urlopen(f"{scheme}://{self.host}/v2/", timeout=1, context=context)
                return
            except urllib.error.HTTPError:
                return  # 401 from an auth-protected registry still means "up"
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        raise RuntimeError("registry did not come up in 15 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Stop the registry abruptly, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
