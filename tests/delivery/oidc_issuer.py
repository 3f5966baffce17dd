"""A test OpenID Connect issuer: a real HTTP server on loopback serving a discovery document and
a JWKS, and RS256 tokens minted with its key (the way GitHub, GitLab or Jenkins would mint them).
``forger`` is a second key the issuer does not publish."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.jsonhttp import JsonHandler


class Issuer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}

    def token(self, *, forged: bool = False, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": self.url,
            "aud": "lockgate",
            "sub": "repo:team/model:environment:production",
            "actor": "lena",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": "t-1",
            **claims,
        }
        key = self.forger if forged else self.key
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


@contextmanager
def serve_issuer() -> Iterator[Issuer]:
    issuer: Issuer

    class Handler(JsonHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
            elif self.path == "/jwks":
                body = issuer.jwks()
            elif self.path.startswith("/request?"):  # GitHub's ACTIONS_ID_TOKEN_REQUEST_URL
                if self.headers.get("Authorization") != "bearer request-token":
                    self.send_error(403)
                    return
                audience = self.path.partition("audience=")[2]
                body = {"value": issuer.token(aud=audience, actor="github-user")}
            else:
                self.send_error(404)
                return
            self.reply(200, body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = Issuer(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
