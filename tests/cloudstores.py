"""Emulators of Google Cloud Storage and Azure Blob Storage for the object-store tests, each a
real HTTP server started as a subprocess on a free port and stopped after the session: on
loopback for stages run by the local executor, on the container bridge's gateway for stages in
containers (a container's loopback is its own).

- ``gcp-storage-emulator`` (PyPI) speaks the GCS JSON API that gcsfs uses: bucket and object
  listing, media download with ranges, multipart upload. It checks no credentials, so a small
  OAuth2 token endpoint runs beside it (:class:`TokenEndpoint`): a service account's key file
  names it as ``token_uri``, and it grants a token only for an assertion signed with the
  account's private key, the check Google's token endpoint makes.
- Azurite (npm ``azurite``, installed by scripts/setup-test-env) speaks the Blob API and checks
  Shared Key signatures and SAS tokens of its well-known development account; given a server
  certificate it serves HTTPS and also takes OAuth bearer tokens (``--oauth basic``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

# Azurite's published development account (not a secret: every Azurite has it).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


# The SDK's newer API version is accepted; accounts are named in the path, not the host name.
AZURITE_ARGS = ("--skipApiVersionCheck", "--disableProductStyleUrl", "--blobPort")


# the emulator with each connection read on its own thread: see the module's docstring
_GCS_SERVE = Path(__file__).with_name("gcs_emulator_serve.py")


def _gcs_args(host: str, port: int) -> list[str]:
    return ["--in-memory", "--host", host, "--port", str(port)]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _wait_port(
    host: str, port: int, process: subprocess.Popen[bytes], name: str, log: Path
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}: {log.read_text()[-500:]}")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen within 60 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _b64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def new_private_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass
class TokenEndpoint:
    """An OAuth2 token endpoint for service-account JWT assertions (RS256), listening on
    ``host``."""

    host: str = "127.0.0.1"
    public_keys: dict[str, Any] = field(default_factory=dict)  # client_email -> public key
    granted: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://{self.host}:{self.server.server_address[1]}/token"

    def service_account(self, email: str) -> dict[str, str]:
        """A service account's JSON key file, its key registered here."""
        key = new_private_key()
        self.public_keys[email] = key.public_key()
        return {
            "type": "service_account",
            "project_id": "lake-project",
            "private_key_id": "k1",
            "private_key": pem(key),
            "client_email": email,
            "client_id": "1",
            "token_uri": self.url,
        }

    def _grant(self, body: bytes) -> tuple[int, dict[str, Any]]:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        assertion = parse_qs(body.decode()).get("assertion", [""])[0]
        try:
            head, claims, signature = assertion.split(".")
            email = json.loads(_b64(claims))["iss"]
            self.public_keys[email].verify(
                _b64(signature), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (ValueError, KeyError, InvalidSignature):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        token = base64.urlsafe_b64encode(os.urandom(24)).decode()
        self.granted.append(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def start(self) -> TokenEndpoint:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, answer = endpoint._grant(self.rfile.read(length))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass(frozen=True)
class GcsEmulator:
    endpoint: str
    tokens: TokenEndpoint
    process: subprocess.Popen[bytes]

    def filesystem(self) -> Any:
        """The test's own client (anonymous: the emulator checks no credentials)."""
        from gcsfs.core import GCSFileSystem

        return GCSFileSystem(token="anon", endpoint_url=self.endpoint, skip_instance_cache=True)

    def stop(self) -> None:
        _stop(self.process)
        self.tokens.stop()


def start_gcs(log: Path, host: str = "127.0.0.1") -> GcsEmulator:
    """The emulator and its token endpoint on ``host`` (loopback, or the container bridge's
    gateway for a stage in a container)."""
    port = free_port(host)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(_GCS_SERVE), "start", *_gcs_args(host, port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={"PATH": "/usr/bin:/bin"},  # none of the host's Google settings
        )
    _wait_port(host, port, process, "gcp-storage-emulator", log)
    return GcsEmulator(f"http://{host}:{port}", TokenEndpoint(host).start(), process)


def azurite_bin() -> str | None:
    tools = Path(os.environ.get("LOCKGATE_TOOLS_DIR") or "/usr/local/lib/lockgate-tools")
    candidate = tools / "node" / "node_modules" / ".bin" / "azurite-blob"
    return str(candidate) if candidate.is_file() else shutil.which("azurite-blob")


@dataclass(frozen=True)
class Azurite:
    endpoint: str  # http://127.0.0.1:PORT/devstoreaccount1
    process: subprocess.Popen[bytes]
    folder: str

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={self.endpoint};"
        )

    def filesystem(self) -> Any:
        import adlfs

        return adlfs.AzureBlobFileSystem(
            connection_string=self.connection_string, skip_instance_cache=True
        )

    def container_sas(self, container: str) -> str:
        """A read and list SAS for one container, valid for an hour."""
        from datetime import UTC, datetime, timedelta

        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        return generate_container_sas(
            AZURITE_ACCOUNT,
            container,
            account_key=AZURITE_KEY,
            permission=ContainerSasPermissions(read=True, list=True),
            expiry=datetime.now(UTC) + timedelta(hours=1),
        )

    def stop(self) -> None:
        _stop(self.process)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_azurite(binary: str, log: Path, tls: Any = None, host: str = "127.0.0.1") -> Azurite:
    """Azurite over plain HTTP, or over HTTPS with ``tls`` (a server certificate and key, see
    tests/engine/tls_ca.py) and bearer tokens accepted; on ``host`` (loopback, or the container
    bridge's gateway for a stage in a container)."""
    port = free_port(host)
    folder = tempfile.mkdtemp(prefix="azurite-")
    args = [binary, "--blobHost", host, "--location", folder, *AZURITE_ARGS, str(port)]
    if tls is not None:
        args += ["--cert", str(tls.cert), "--key", str(tls.key), "--oauth", "basic"]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
    _wait_port(host, port, process, "azurite-blob", log)
    scheme = "http" if tls is None else "https"
    return Azurite(f"{scheme}://{host}:{port}/{AZURITE_ACCOUNT}", process, folder)
