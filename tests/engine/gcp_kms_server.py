"""Google Cloud KMS on a loopback port for the encryption-at-rest tests (see
tests/engine/kms_cloud_servers.py): the OAuth 2 token endpoint verifies the service account's
RS256 JWT assertion and issues an access token; ``POST /v1/{name}:encrypt`` and ``:decrypt``
check it (expiry, scope) and the account's permission, and really encrypt (AES-256-GCM per key
version); IAM Credentials' ``generateAccessToken`` issues a token of an impersonated account."""

from __future__ import annotations

import base64
import datetime
import json
import os
import time
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from tests.engine.kms_cloud_servers import Answer, RecordingServer, b64url_decode, rsa_key

if TYPE_CHECKING:
    from tests.engine.kms_servers import ServerTls

SCOPE = "https://www.googleapis.com/auth/cloudkms"
PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


class GcpKmsServer(RecordingServer):
    """The token endpoint and the two Cloud KMS methods lockgate calls."""

    RING = "projects/lockgate-test/locations/europe-west1/keyRings/lockgate"

    def __init__(
        self,
        keys: tuple[str, ...] = ("data", "other"),
        host: str = "127.0.0.1",
        tls: ServerTls | None = None,
    ) -> None:
        super().__init__(host, tls)
        self.accounts: dict[str, tuple[Any, bool]] = {}  # email -> (private key, may use KMS)
        self.grants: dict[str, set[str]] = {}  # email -> the only keys it may use, if listed
        self.token_creators: dict[str, set[str]] = {}  # email -> who may impersonate it
        self.scopes: dict[str, set[str]] = {}  # access token -> its OAuth scopes
        # key name -> versions (1-based), each an AES-256 key; the last is primary
        self.keys = {f"{self.RING}/cryptoKeys/{k}": [os.urandom(32)] for k in keys}

    def key(self, name: str) -> str:
        return f"{self.RING}/cryptoKeys/{name}"

    def account(self, name: str, allowed: bool = True) -> dict[str, str]:
        """A new service account and its JSON key, as the console or gcloud gives it."""
        from cryptography.hazmat.primitives import serialization

        email = f"{name}@lockgate-test.iam.gserviceaccount.com"
        private = rsa_key()
        self.accounts[email] = (private, allowed)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": "lockgate-test",
            "private_key_id": uuid.uuid4().hex,
            "private_key": pem,
            "client_email": email,
            "client_id": str(uuid.uuid4().int)[:21],
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": f"{self.url}/token",
        }

    def impersonable(self, name: str, keys: tuple[str, ...], by: str) -> str:
        """A service account with no key of its own, allowed only ``keys`` (names) and
        impersonable by the account ``by`` (Token Creator on it); its email."""
        email = f"{name}@lockgate-test.iam.gserviceaccount.com"
        self.accounts[email] = (None, True)
        self.grants[email] = {self.key(k) for k in keys}
        self.token_creators[email] = {by}
        return email

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path == "/token":
            return self._token(dict(urllib.parse.parse_qsl(body.decode())))
        if path.startswith("/v1/projects/-/serviceAccounts/"):
            return self._generate(path, headers, json.loads(body or b"{}"))
        name, _, method = path.removeprefix("/v1/").rpartition(":")
        return self._kms(method, name, headers, json.loads(body or b"{}"))

    def _token(self, form: dict[str, str]) -> Answer:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def refuse(error: str, description: str) -> Answer:
            return 400, {"error": error, "error_description": description}

        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return refuse("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type')}")
        try:
            head, claims_part, signature = form["assertion"].split(".")
            header = json.loads(b64url_decode(head))
            claims = json.loads(b64url_decode(claims_part))
        except (KeyError, ValueError):
            return refuse("invalid_request", "Invalid JWT: malformed assertion")
        if header.get("alg") != "RS256":
            return refuse("invalid_grant", "Invalid JWT: unsupported algorithm")
        found = self.accounts.get(claims.get("iss", ""))
        if found is None:
            return refuse("invalid_grant", "Invalid grant: account not found")
        try:
            found[0].public_key().verify(
                b64url_decode(signature),
                f"{head}.{claims_part}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            return refuse("invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != f"{self.url}/token":
            return refuse("invalid_grant", "Invalid JWT: Failed audience check.")
        now, iat, exp = time.time(), claims.get("iat", 0), claims.get("exp", 0)
        if not (iat <= now + 60 and now < exp and exp - iat <= 3600):
            return refuse(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                "timeframe. Check your iat and exp values in the JWT claim.",
            )
        scopes = str(claims.get("scope", "")).split()
        if not {SCOPE, PLATFORM} & set(scopes):
            return refuse("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token = self._issue(claims["iss"], set(scopes), 3599)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def _issue(self, email: str, scopes: set[str], seconds: int) -> str:
        token = "ya29." + base64.urlsafe_b64encode(os.urandom(48)).decode().rstrip("=")
        self.tokens[token], self.scopes[token] = email, scopes
        self.expires[token] = time.time() + seconds
        return token

    def _generate(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> Answer:
        def error(code: int, status: str, message: str) -> Answer:
            return code, {"error": {"code": code, "message": message, "status": status}}

        caller = self.principal(headers)
        if caller is None:
            return error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        if PLATFORM not in self.scopes.get(token, set()):
            return error(
                403, "PERMISSION_DENIED", "Request had insufficient authentication scopes."
            )
        name, _, method = path.removeprefix("/v1/").rpartition(":")
        email = urllib.parse.unquote(name.removeprefix("projects/-/serviceAccounts/"))
        if method != "generateAccessToken" or caller not in self.token_creators.get(email, set()):
            return error(
                403,
                "PERMISSION_DENIED",
                "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may "
                "not exist).",
            )
        scopes, lifetime = body.get("scope"), str(body.get("lifetime", "3600s"))
        if not isinstance(scopes, list) or not scopes:
            return error(400, "INVALID_ARGUMENT", "Scope is required.")
        seconds = int(lifetime.removesuffix("s")) if lifetime.removesuffix("s").isdigit() else -1
        if not 0 < seconds <= 3600:
            return error(
                400,
                "INVALID_ARGUMENT",
                "The lifetime must be at most 3600 seconds (or the organization policy's maximum).",
            )
        issued = self._issue(email, {str(s) for s in scopes}, seconds)
        expire = datetime.datetime.fromtimestamp(self.expires[issued], datetime.UTC)
        return 200, {"accessToken": issued, "expireTime": expire.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def _kms(self, method: str, name: str, headers: dict[str, str], body: dict[str, Any]) -> Answer:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        def error(code: int, status: str, message: str) -> Answer:
            return code, {"error": {"code": code, "message": message, "status": status}}

        email = self.principal(headers)
        if email is None:
            return error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
            )
        use = "useToEncrypt" if method == "encrypt" else "useToDecrypt"
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        if not {SCOPE, PLATFORM} & self.scopes.get(token, set()):
            return error(
                403, "PERMISSION_DENIED", "Request had insufficient authentication scopes."
            )
        key_name = name.partition("/cryptoKeyVersions/")[0]
        if not self.accounts[email][1] or key_name not in self.grants.get(email, {key_name}):
            return error(
                403,
                "PERMISSION_DENIED",
                f"Permission 'cloudkms.cryptoKeyVersions.{use}' denied on resource '{name}' (or "
                "it may not exist).",
            )
        key, _, version = name.partition("/cryptoKeyVersions/")
        versions = self.keys.get(key)
        if versions is None or method not in ("encrypt", "decrypt"):
            return error(404, "NOT_FOUND", f"{name} not found.")
        if method == "decrypt" and version:
            return error(400, "INVALID_ARGUMENT", "Decrypt takes a CryptoKey, not a version.")
        if method == "encrypt":
            number = int(version) if version else len(versions)
            if not 1 <= number <= len(versions):
                return error(404, "NOT_FOUND", f"{name} not found.")
            plain, nonce = base64.b64decode(body["plaintext"]), os.urandom(12)
            sealed = AESGCM(versions[number - 1]).encrypt(nonce, plain, key.encode())
            return 200, {
                "name": f"{key}/cryptoKeyVersions/{number}",
                "ciphertext": base64.b64encode(bytes([number]) + nonce + sealed).decode(),
                "verifiedPlaintextCrc32c": False,
                "verifiedAdditionalAuthenticatedDataCrc32c": False,
                "protectionLevel": "SOFTWARE",
            }
        raw = base64.b64decode(body.get("ciphertext", ""))
        try:
            number = raw[0]
            plain = AESGCM(versions[number - 1]).decrypt(raw[1:13], raw[13:], key.encode())
        except (IndexError, InvalidTag):
            return error(400, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.")
        answer = {"plaintext": base64.b64encode(plain).decode(), "usedPrimary": True}
        return 200, {**answer, "protectionLevel": "SOFTWARE"}
