"""A token server for tests, written from Docker's registry token specification.

``GET /token?service=S&scope=repository:NAME:ACTIONS`` with optional HTTP basic credentials
answers ``{"token": JWT}``: an RS256 JWT whose header carries the signing certificate (``x5c``)
and whose claims carry ``iss``, ``sub``, ``aud`` (the service), ``exp``/``nbf``/``iat`` and an
``access`` list of what was granted. As the specification says, a request for more than the
account may have is not refused: the token grants the subset allowed, and the registry then
answers ``insufficient_scope``. Wrong credentials get a 401.

``POST /token`` with a form ``grant_type=refresh_token&refresh_token=R&service=S&scope=...``
(the OAuth2 flow of the same specification, for identity tokens) answers
``{"access_token": JWT}`` for a known refresh token, and 401 otherwise.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .registry_server import RegistryServer, free_port, make_tls_material

SERVICE, ISSUER = "lockgate-test-registry", "lockgate-test-token-server"
# account -> (password, actions granted on every repository); anonymous may only pull public/*.
ACCOUNTS = {"lockgate": ("s3cret-token-pass", ("pull", "push")), "reader": ("read-only", ("pull",))}
# identity (OAuth2 refresh) tokens, as `docker login` stores them in "identitytoken" -> account
REFRESH_TOKENS = {"lockgate-refresh-7f3a": "lockgate"}


def make_signing_cert(folder: Path) -> tuple[Path, Path]:
    """An RSA key and a self-signed certificate: the registry's ``rootcertbundle``."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=lockgate test token signer", "-keyout", "token.key"),
            *("-out", "token.crt"),
        ],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return folder / "token.key", folder / "token.crt"


@dataclass
class TokenServer:
    key: Path
    cert: Path
    tls_cert: Path
    tls_key: Path
    expired: bool = False  # issue tokens that ran out ten minutes ago
    issued: list[dict[str, object]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}/token"

    def _x5c(self) -> str:
        pem = self.cert.read_text()
        body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
        return "".join(body.split())

    def grant(self, account: str, scopes: list[str]) -> list[dict[str, object]]:
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":", 2) if scope.count(":") >= 2 else ("", "", "")
            if kind != "repository":
                continue
            allowed = (
                ACCOUNTS[account][1]
                if account
                else (("pull",) if name.startswith("public/") else ())
            )
            wanted = [a for a in actions.split(",") if a in allowed]
            access.append({"type": kind, "name": name, "actions": wanted})
        return access

    def token(self, account: str, scopes: list[str]) -> str:
        import jwt

        now = int(time.time()) - (1200 if self.expired else 0)
        claims = {
            "iss": ISSUER,
            "sub": account,
            "aud": SERVICE,
            "iat": now,
            "nbf": now - 5,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
            "access": self.grant(account, scopes),
        }
        self.issued.append(claims)
        headers = {"x5c": [self._x5c()]}
        return jwt.encode(claims, self.key.read_text(), algorithm="RS256", headers=headers)

    def start(self) -> TokenServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                account = REFRESH_TOKENS.get((form.get("refresh_token") or [""])[0])
                if form.get("grant_type") != ["refresh_token"] or account is None:
                    self.send_response(401)
                    self.end_headers()
                    return
                scopes = " ".join(form.get("scope", [])).split()
                body = json.dumps({"access_token": owner.token(account, scopes)})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def do_GET(self) -> None:
                url = urllib.parse.urlparse(self.path)
                query = urllib.parse.parse_qs(url.query)
                account = ""
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                    if ACCOUNTS.get(user, ("",))[0] != password or not password:
                        self.send_response(401)
                        self.send_header("Content-Type", "application/json")
                        self.end_headers()
                        self.wfile.write(b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                        return
                    account = user
                if url.path != "/token" or query.get("service") != [SERVICE]:
                    self.send_response(400)
                    self.end_headers()
                    return
                body = json.dumps({"token": owner.token(account, query.get("scope", []))})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.tls_cert), str(self.tls_key))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def start_token_registry(root: Path) -> tuple[RegistryServer, TokenServer]:
    """A docker-registry with TLS and ``auth: token``, and its token server, both started."""
    ca, cert, key, _ = make_tls_material(root / "certs")
    signing_key, signing_cert = make_signing_cert(root / "signer")
    tokens = TokenServer(signing_key, signing_cert, cert, key).start()
    token_auth = (tokens.realm, SERVICE, ISSUER, signing_cert)
    try:
        server = RegistryServer(
            root, free_port(), tls=(ca, cert, key, ca), token_auth=token_auth
        ).start()
    except BaseException:
        tokens.stop()
        raise
    return server, tokens
