"""Azure Key Vault on a loopback port for the encryption-at-rest tests (see
tests/engine/kms_cloud_servers.py): the identity platform's v2.0 token endpoint checks tenant,
client id, secret and scope; ``wrapkey`` / ``unwrapkey`` check the bearer token and the client's
permission, and wrap with RSA-OAEP-256 under a server-held RSA key per key version."""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from tests.engine.kms_cloud_servers import Answer, RecordingServer, b64url_decode, rsa_key

if TYPE_CHECKING:
    from tests.engine.kms_servers import ServerTls


class AzureKeyVaultServer(RecordingServer):
    """The identity platform's token endpoint and a vault's wrapkey / unwrapkey."""

    SCOPE = "https://vault.azure.net/.default"

    def __init__(
        self,
        keys: tuple[str, ...] = ("data", "other"),
        host: str = "127.0.0.1",
        tls: ServerTls | None = None,
    ) -> None:
        super().__init__(host, tls)
        self.tenant = str(uuid.uuid4())
        self.clients: dict[str, tuple[str, bool]] = {}  # client id -> (secret, may wrap)
        self.grants: dict[str, set[str]] = {}  # client id -> the only keys it may use, if listed
        # key name -> {version: RSA private key}; the last added is the current version
        self.keys = {name: {uuid.uuid4().hex: rsa_key()} for name in keys}

    def client(self, allowed: bool = True) -> tuple[str, str]:
        """A new app registration's client id and a client secret value."""
        client_id = str(uuid.uuid4())
        secret = "Zx8Q~" + base64.urlsafe_b64encode(os.urandom(27)).decode()
        self.clients[client_id] = (secret, allowed)
        return client_id, secret

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urllib.parse.urlsplit(path)
        segments = parts.path.strip("/").split("/")
        if segments[1:] == ["oauth2", "v2.0", "token"]:
            return self._token(segments[0], dict(urllib.parse.parse_qsl(body.decode())))
        query = dict(urllib.parse.parse_qsl(parts.query))
        return self._vault(segments, query, headers, json.loads(body or b"{}"))

    def _token(self, tenant: str, form: dict[str, str]) -> Answer:
        def refuse(status: int, error: str, code: int, description: str) -> Answer:
            trace = f"\r\nTrace ID: {uuid.uuid4()}\r\nCorrelation ID: {uuid.uuid4()}"
            return status, {
                "error": error,
                "error_description": f"AADSTS{code}: {description}{trace}",
                "error_codes": [code],
            }

        if tenant != self.tenant:
            return refuse(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure "
                "you have the correct tenant ID and are signing into the correct cloud.",
            )
        if form.get("grant_type") != "client_credentials":
            return refuse(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        client = self.clients.get(form.get("client_id", ""))
        if client is None:
            return refuse(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier "
                f"'{form.get('client_id')}' was not found in the directory '{tenant}'.",
            )
        if form.get("client_secret") != client[0]:
            return refuse(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the "
                "secret being sent in the request is the client secret value, not the client "
                f"secret ID, for a secret added to app '{form.get('client_id')}'.",
            )
        if form.get("scope") != self.SCOPE:
            return refuse(
                400,
                "invalid_scope",
                70011,
                "The provided request must include a 'scope' input parameter.",
            )
        token = "eyJ0eXAiOiJKV1Qi." + base64.urlsafe_b64encode(os.urandom(48)).decode()
        self.tokens[token] = form["client_id"]
        self.expires[token] = time.time() + 3599
        return 200, {
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": token,
        }

    def _vault(
        self, segments: list[str], query: dict[str, str], headers: dict[str, str], body: Any
    ) -> Answer:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def error(status: int, code: str, message: str) -> Answer:
            return status, {"error": {"code": code, "message": message}}

        if query.get("api-version") != "7.4":
            return error(400, "BadParameter", "The request URI contains an invalid api-version.")
        client = self.principal(headers)
        if client is None:
            return error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
        if segments[0] != "keys" or len(segments) not in (3, 4):
            return error(404, "NotFound", "The requested resource was not found.")
        name, op = segments[1], segments[-1]
        if not self.clients[client][1] or name not in self.grants.get(client, {name}):
            what = "wrapKey" if op == "wrapkey" else "unwrapKey"
            return error(
                403,
                "Forbidden",
                f"The user, group or application 'appid={client};oid=...' does not have keys "
                f"{what} permission on key vault '{self.host}'.",
            )
        versions = self.keys.get(name, {})
        version = segments[2] if len(segments) == 4 else next(reversed(versions), "")
        if version not in versions or op not in ("wrapkey", "unwrapkey"):
            return error(
                404, "KeyNotFound", f"A key with (name/id) {name} was not found in this key vault."
            )
        if not isinstance(body, dict) or body.get("alg") != "RSA-OAEP-256":
            return error(400, "BadParameter", "Invalid or unsupported algorithm.")
        oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
        private = versions[version]
        kid = f"{self.url}/keys/{name}/{version}"
        value = b64url_decode(str(body.get("value", "")))
        if op == "wrapkey":
            out = private.public_key().encrypt(value, oaep)
        else:
            try:
                out = private.decrypt(value, oaep)
            except ValueError:
                return error(400, "BadParameter", "Error occurred while unwrapping the key.")
        return 200, {"kid": kid, "value": base64.urlsafe_b64encode(out).decode().rstrip("=")}
