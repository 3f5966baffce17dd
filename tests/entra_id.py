"""A token endpoint that answers as the Microsoft identity platform's v2.0 endpoint does, over
HTTPS with a test CA, for the Azure service-principal tests.

``POST /{tenant}/oauth2/v2.0/token`` with the client-credentials grant checks the tenant, the
client id and its credential — a client secret, or a client assertion: a JWT signed (RS256) by
a registered federated issuer, whose ``iss``, ``sub`` and ``aud`` (``api://AzureADTokenExchange``)
match the app's federated credential and whose lifetime has not passed, or a JWT the app signed
(PS256) with the private key of a certificate registered on it, named by its ``x5t#S256``
thumbprint, with ``iss`` = ``sub`` = the client id and ``aud`` = this token URL — and the scope. It
grants an access token shaped like Entra ID's for storage (a JWT with ``aud``
``https://storage.azure.com``, ``iss`` ``https://sts.windows.net/{tenant}/``, ``iat``/``nbf``/
``exp``), signed with a key of its own. Azurite's ``--oauth basic`` mode checks those claims of a
bearer token but not its signature, so the storage side accepts any such token: what is
proved with a real check here is the grant (the right secret or assertion, and nothing else,
gets a token). Refusals answer ``{"error", "error_description", "error_codes"}`` with the
``AADSTS`` codes Entra ID uses.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.engine.kms_servers import ServerTls
from tests.jwt_keys import (
    EXCHANGE_AUDIENCE,
    FederatedIssuer,
    b64,
    rsa_key,
    self_signed,
    sign_jwt,
    unb64,
)

STORAGE_SCOPE = "https://storage.azure.com/.default"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

Answer = tuple[int, dict[str, Any]]


@dataclass
class App:
    client_id: str
    secret: str | None = None
    federated: tuple[FederatedIssuer, str] | None = None  # trusted issuer and subject
    certificate: Any = None  # a registered certificate


class EntraTokenEndpoint:
    """The v2.0 token endpoint of one tenant, on a port of ``host`` (loopback, or the container
    bridge's gateway for a stage in a container) over HTTPS."""

    def __init__(self, tls: ServerTls, host: str = "127.0.0.1") -> None:
        self.host = host
        self.tenant = str(uuid.uuid4())
        self.apps: dict[str, App] = {}
        self.granted: list[str] = []  # every access token issued
        self.refused: list[str] = []  # AADSTS codes answered
        self._key = rsa_key()
        self.server = ThreadingHTTPServer((host, 0), self._handler())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def authority(self, host: str | None = None) -> str:
        return f"https://{host or self.host}:{self.port}"

    def app_with_secret(self) -> tuple[str, str]:
        """A new app registration's client id and a client secret value."""
        app = App(str(uuid.uuid4()), secret="Qk9~" + b64(os.urandom(30)))
        self.apps[app.client_id] = app
        return app.client_id, str(app.secret)

    def app_with_federation(self, issuer: FederatedIssuer, subject: str) -> str:
        """A new app that trusts ``issuer``'s tokens for ``subject``; its client id."""
        app = App(str(uuid.uuid4()), federated=(issuer, subject))
        self.apps[app.client_id] = app
        return app.client_id

    def app_with_certificate(self) -> tuple[str, str]:
        """A new app with a certificate registered: its client id, and the PEM (private key and
        certificate) its owner keeps."""
        client_id = str(uuid.uuid4())
        cert, pem = self_signed(f"app-{client_id}")
        self.apps[client_id] = App(client_id, certificate=cert)
        return client_id, pem

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _refuse(self, status: int, error: str, code: int, description: str) -> Answer:
        self.refused.append(f"AADSTS{code}")
        trace = f"\r\nTrace ID: {uuid.uuid4()}\r\nCorrelation ID: {uuid.uuid4()}"
        return status, {
            "error": error,
            "error_description": f"AADSTS{code}: {description}{trace}",
            "error_codes": [code],
        }

    def answer(self, path: str, form: dict[str, str]) -> Answer:
        segments = urllib.parse.urlsplit(path).path.strip("/").split("/")
        if segments[1:] != ["oauth2", "v2.0", "token"]:
            return 404, {"error": "not_found"}
        if segments[0] != self.tenant:
            return self._refuse(400, "invalid_request", 90002, f"Tenant '{segments[0]}' not found.")
        if form.get("grant_type") != "client_credentials":
            return self._refuse(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        app = self.apps.get(form.get("client_id", ""))
        if app is None:
            return self._refuse(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the "
                f"directory '{self.tenant}'.",
            )
        problem = self._check_credential(app, form)
        if problem is not None:
            return problem
        if form.get("scope") != STORAGE_SCOPE:
            return self._refuse(
                400, "invalid_scope", 1002012, "The provided value for scope is not valid."
            )
        return 200, self._grant(app)

    def _check_credential(self, app: App, form: dict[str, str]) -> Answer | None:
        if "client_secret" in form:
            if app.secret is not None and form["client_secret"] == app.secret:
                return None
            return self._refuse(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{app.client_id}'.",
            )
        if form.get("client_assertion_type") == ASSERTION_TYPE and app.federated is not None:
            reason = self._assertion_problem(form.get("client_assertion", ""), *app.federated)
            if reason is None:
                return None
            return self._refuse(400, "invalid_client", 700213, reason)
        if form.get("client_assertion_type") == ASSERTION_TYPE and app.certificate is not None:
            reason = self._signed_by_app(form.get("client_assertion", ""), app)
            if reason is None:
                return None
            return self._refuse(401, "invalid_client", 700027, reason)
        return self._refuse(
            401, "invalid_client", 7000216, "'client_assertion' or 'client_secret' is required."
        )

    def _assertion_problem(
        self, assertion: str, issuer: FederatedIssuer, subject: str
    ) -> str | None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            head, body, signature = assertion.split(".")
            claims = json.loads(unb64(body))
            issuer.key.public_key().verify(
                unb64(signature), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (ValueError, InvalidSignature):
            return "The client assertion is not signed by the federated identity's issuer."
        if claims.get("iss") != issuer.url or claims.get("sub") != subject:
            return (
                f"No matching federated identity record found for presented assertion issuer "
                f"'{claims.get('iss')}' and subject '{claims.get('sub')}'."
            )
        if claims.get("aud") != EXCHANGE_AUDIENCE:
            return f"The presented assertion audience '{claims.get('aud')}' is not valid."
        if int(claims.get("exp", 0)) < time.time():
            return "The presented assertion has expired."
        return None

    def _signed_by_app(self, assertion: str, app: App) -> str | None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            head, body, signature = assertion.split(".")
            header, claims = json.loads(unb64(head)), json.loads(unb64(body))
        except ValueError:
            return "Client assertion failed signature validation."
        thumbprint = b64(app.certificate.fingerprint(hashes.SHA256()))
        if str(header.get("x5t#S256", "")).rstrip("=") != thumbprint:
            return (
                f"The certificate with identifier used to sign the client assertion is not "
                f"registered on application {app.client_id}."
            )
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
        try:
            app.certificate.public_key().verify(
                unb64(signature), f"{head}.{body}".encode(), pss, hashes.SHA256()
            )
        except InvalidSignature:
            return "Client assertion failed signature validation."
        token_url = f"{self.authority()}/{self.tenant}/oauth2/v2.0/token"
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
            return "The client assertion's issuer and subject must be the client id."
        if claims.get("aud") != token_url:
            return f"The client assertion's audience {claims.get('aud')!r} is not {token_url}."
        if int(claims.get("exp", 0)) < time.time():
            return "The client assertion has expired."
        return None

    def _grant(self, app: App) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "aud": "https://storage.azure.com",
            "iss": f"https://sts.windows.net/{self.tenant}/",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "appid": app.client_id,
            "tid": self.tenant,
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, app.client_id)),
            "ver": "1.0",
        }
        token = sign_jwt(self._key, claims)
        self.granted.append(token)
        return {
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": token,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = dict(urllib.parse.parse_qsl(body.decode()))
                status, answer = owner.answer(self.path, form)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
