"""Google Cloud KMS and Azure Key Vault for the encryption-at-rest tests.

No cloud can be reached where these tests run, so each is a small HTTP server (on a loopback port,
or on ``host`` and over HTTPS with ``tls``'s certificate) that answers the calls lockgate makes as the services document them, records every request, and
checks authentication for real:

- ``GcpKmsServer`` (tests/engine/gcp_kms_server.py): the OAuth 2 token endpoint verifies the
  service account's RS256 JWT assertion (signature against the account's public key, ``iss``,
  ``aud``, ``iat``/``exp``, ``scope``) and issues an access token; ``POST /v1/{name}:encrypt``
  and ``:decrypt`` check that bearer token (its expiry and its scope: ``cloudkms`` or
  ``cloud-platform``) and the account's permission on the key, and really encrypt (AES-256-GCM
  under a server-held key per key version), answering errors as
  ``{"error": {"code", "message", "status"}}``. The IAM Credentials API's
  ``POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken`` (``scope``, ``lifetime`` up
  to 3600s) issues a token of another account to a caller whose token has the
  ``cloud-platform`` scope and who holds the Token Creator role on it; it answers
  ``{"accessToken", "expireTime"}``.
- ``AzureKeyVaultServer`` (tests/engine/azure_kv_server.py): the Microsoft identity platform's
  v2.0 token endpoint checks tenant, client id, client secret and scope (errors as
  ``{"error", "error_description", "error_codes"}``); ``POST /keys/{name}[/{version}]/wrapkey``
  and ``/unwrapkey`` (``api-version=7.4``) check the bearer token and the client's permission,
  and wrap with RSA-OAEP-256 under a server-held RSA key per key version, answering errors as
  ``{"error": {"code", "message"}}``.

Both refuse an access token after its ``expires_in`` (``RecordingServer.expires``).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.engine.kms_servers import ServerTls

Answer = tuple[int, dict[str, Any]]


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rsa_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def serve_tls(server: ThreadingHTTPServer, tls: ServerTls) -> None:
    """Make ``server`` speak HTTPS only, with ``tls``'s certificate."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert, tls.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)


class RecordingServer:
    """A threaded HTTP server that records each POST (and the client's address) and answers
    ``answer()``: on loopback, or on ``host``; HTTPS only with ``tls``."""

    def __init__(self, host: str = "127.0.0.1", tls: ServerTls | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer((host, 0), self._handler())
        if tls is not None:
            serve_tls(self.server, tls)
        self.host = f"{host}:{self.server.server_address[1]}"
        self.url = f"{'https' if tls else 'http'}://{self.host}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.tokens: dict[str, str] = {}  # access token issued -> the principal it stands for
        self.expires: dict[str, float] = {}  # access token -> when it stops being accepted
        self.location: str | None = None  # sent as Location with a 3xx answer

    def __enter__(self) -> RecordingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        raise NotImplementedError

    def principal(self, headers: dict[str, str]) -> str | None:
        """Whom the bearer token stands for; None for an unknown or expired token."""
        auth = headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        if self.expires.get(token, float("inf")) <= time.time():
            return None
        return self.tokens.get(token)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # only a followed redirect would come here
                owner.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "client": self.client_address[0],
                    }
                )
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers)
                client = self.client_address[0]
                record = {"path": self.path, "headers": headers, "body": body, "client": client}
                owner.requests.append(record)
                status, answer = owner.answer(self.path, headers, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                if owner.location and 300 <= status < 400:
                    self.send_header("Location", owner.location)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
