"""Google Cloud KMS over its REST API (v1): the data key is made here and wrapped with
``cryptoKeys.encrypt``; ``cryptoKeys.decrypt`` unwraps it.

The URI follows cosign's form,
``gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]``. Encrypt goes
to the version when one is named, else to the key's primary version; the version that wrapped
the data key (the ``name`` the encrypt call answers) is recorded, and decrypt goes to the key,
which finds that version itself.

Authentication: a service account's JSON key, held in the declared secret that
``GOOGLE_SERVICE_ACCOUNT_KEY`` names, signs an RS256 JWT assertion (``cryptography``); the key
file's ``token_uri`` exchanges it for an OAuth 2 access token (grant type jwt-bearer), sent as a
bearer token on the KMS calls and kept in memory only. ``GOOGLE_KMS_ENDPOINT`` (a declared
secret too) replaces ``https://cloudkms.googleapis.com``, for a private endpoint. A stage given
minted credentials (:mod:`lockgate.engine.kms.gcp_token`) has no key: only
``GOOGLE_ACCESS_TOKEN`` and ``GOOGLE_ACCESS_TOKEN_EXPIRY`` (Unix seconds), used until then.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lockgate.engine.kms import DataKey
from lockgate.engine.kms.http import (
    Unreachable,
    base_url,
    lifetime,
    live_token,
    minted_token,
    post,
    trust,
)
from lockgate.engine.sealing import SealError
from lockgate.spec.keys import GCP_KEY

ENDPOINT = "https://cloudkms.googleapis.com"
TOKEN_URI = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/cloudkms"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CRED = "GOOGLE_SERVICE_ACCOUNT_KEY"


class GcpKms:
    def __init__(
        self, uri: str, credentials: Mapping[str, str], where: str, ca_file: Path | None = None
    ) -> None:
        self.uri, self.where = uri, where
        self.tls = trust(ca_file, where)
        match = GCP_KEY.fullmatch(uri)
        if match is None:
            raise SealError(
                f"{uri}: expected gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K"
            )
        self.key = match["key"]  # the CryptoKey: decrypt goes here
        self.target = self.key + (match["version"] or "")  # what encrypt names
        endpoint = credentials.get("GOOGLE_KMS_ENDPOINT") or ENDPOINT
        self.endpoint = base_url(endpoint, f"{where}: GOOGLE_KMS_ENDPOINT")
        self._token: tuple[str, float] | None = None  # (access token, expiry), memory only
        self.account: dict[str, str] | None = None  # None: a minted access token, no key
        if CRED not in credentials:
            self._token = minted_token(credentials, "GOOGLE_ACCESS_TOKEN", where)
            return
        self.account = _service_account(credentials[CRED], where)
        self.token_uri = base_url(self.account["token_uri"], f"{where}: {CRED} token_uri")

    def generate(self) -> DataKey:
        plain = os.urandom(32)
        answer = self._call("encrypt", self.target, {"plaintext": _b64(plain)})
        name = str(answer.get("name", ""))
        if not name.startswith(self.key + "/cryptoKeyVersions/"):
            raise SealError(
                f"{self.where}: Cloud KMS answered encrypt with key version {name!r}, not a "
                f"version of {self.key}; nothing was sealed"
            )
        return DataKey(plain, str(answer["ciphertext"]), name)

    def unwrap(self, wrapped: str, kms_key: str) -> bytes:
        if not kms_key.startswith(self.key + "/cryptoKeyVersions/"):
            raise SealError(
                f"{self.where}: the data key was wrapped by Cloud KMS key {kms_key}, but the "
                f"configured key is {self.key}; configure the key that wrapped it"
            )
        answer = self._call("decrypt", self.key, {"ciphertext": wrapped})
        try:
            return base64.b64decode(str(answer["plaintext"]), validate=True)
        except ValueError:
            raise SealError(f"{self.where}: Cloud KMS answered decrypt unexpectedly") from None

    def _call(self, op: str, name: str, body: dict[str, str]) -> dict[str, Any]:
        url = f"{self.endpoint}/v1/{name}:{op}"
        try:
            status, answer = post(
                url, {"Authorization": f"Bearer {self._access()}"}, json_body=body, context=self.tls
            )
        except Unreachable as exc:
            raise SealError(
                f"{self.where}: cannot reach Cloud KMS at {self.endpoint} ({exc}): check "
                "GOOGLE_KMS_ENDPOINT and the network; nothing was sealed"
            ) from None
        if status == 200 and isinstance(
            answer.get("ciphertext" if op == "encrypt" else "plaintext"), str
        ):
            return answer
        raise SealError(self._refused(op, name, status, answer))

    def _refused(self, op: str, name: str, status: int, answer: dict[str, Any]) -> str:
        found = answer.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        code, message = str(error.get("status", status)), str(error.get("message", "")).strip()
        said = f"{status} {code}: {message}" if message else f"{status} {code}"
        if code == "UNAUTHENTICATED" or status == 401:
            return f"{self.where}: Cloud KMS refused the access token for {op} ({said}): " + (
                f"check {CRED} in encryption.credentials"
                if self.account
                else "the token minted for this stage has expired or was refused"
            )
        if code == "PERMISSION_DENIED" or status == 403:
            return (
                f"{self.where}: Cloud KMS denied {op} on {name} ({said}): grant the service "
                "account roles/cloudkms.cryptoKeyEncrypterDecrypter on the key, and check the "
                "key's name"
            )
        if code == "NOT_FOUND" or status == 404:
            return (
                f"{self.where}: Cloud KMS has no key {name} ({said}): check the project, "
                "location, key ring and key in encryption.key"
            )
        if op == "decrypt" and code == "INVALID_ARGUMENT":
            return (
                f"{self.where}: Cloud KMS key {self.key} cannot unwrap the data key ({said}): it "
                "was wrapped by another key or altered; configure the key that wrapped it, or "
                "re-run with --no-cache"
            )
        if code == "FAILED_PRECONDITION":
            return (
                f"{self.where}: Cloud KMS key {name} cannot be used ({said}): check that the "
                "key version is enabled"
            )
        return f"{self.where}: Cloud KMS {op} on {name} failed ({said})"

    def _access(self) -> str:
        """An access token for the service account, asked for once and reused until it expires."""
        if self.account is None:
            return live_token(self._token, "Cloud KMS", self.where)
        if self._token is not None and self._token[1] > time.time() + 60:
            return self._token[0]
        self._token = self.access_token()
        return self._token[0]

    def access_token(self, scope: str = SCOPE) -> tuple[str, float]:
        """A fresh access token of the service account for ``scope``, and when it expires."""
        assert self.account is not None, "a minted access token cannot mint another"
        assertion = _assertion(self.account, self.token_uri, self.where, scope)
        try:
            status, answer = post(
                self.token_uri,
                {},
                form={"grant_type": GRANT, "assertion": assertion},
                context=self.tls,
            )
        except Unreachable as exc:
            raise SealError(
                f"{self.where}: cannot reach Google's token endpoint {self.token_uri} ({exc}): "
                "check the token_uri of the service account key and the network; nothing was "
                "sealed"
            ) from None
        token = answer.get("access_token")
        if status != 200 or not isinstance(token, str) or not token:
            said = str(answer.get("error_description") or answer.get("error") or "").strip()
            raise SealError(
                f"{self.where}: Google's token endpoint refused the service account "
                f"{self.account['client_email']} ({status} {answer.get('error', '')}: {said}): "
                f"check {CRED} in encryption.credentials (a current JSON key of that account)"
            )
        return token, time.time() + lifetime(answer.get("expires_in"))


def _service_account(text: str, where: str) -> dict[str, str]:
    """The fields of a service account's JSON key that lockgate uses; the text is never quoted."""
    problem = f"{where}: credential {CRED}: the secret is not a service account's JSON key"
    try:
        raw = json.loads(text)
    except ValueError:
        raise SealError(
            f"{problem} (not JSON); create one with: gcloud iam service-accounts keys create"
        ) from None
    if not isinstance(raw, dict) or raw.get("type", "service_account") != "service_account":
        raise SealError(f"{problem} (its type is not service_account)")
    missing = [k for k in ("client_email", "private_key") if not isinstance(raw.get(k), str)]
    if missing:
        raise SealError(f"{problem} (no {' or '.join(missing)})")
    account = {k: str(raw[k]) for k in ("client_email", "private_key")}
    account["token_uri"] = str(raw.get("token_uri") or TOKEN_URI)
    account["private_key_id"] = str(raw.get("private_key_id") or "")
    return account


def _assertion(account: dict[str, str], audience: str, where: str, scope: str = SCOPE) -> str:
    """The RS256-signed JWT a service account presents for an access token (RFC 7523)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        key = serialization.load_pem_private_key(account["private_key"].encode(), password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SealError(
            f"{where}: credential {CRED}: its private_key is not an RSA private key in PEM form"
        )
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT"}
    if account["private_key_id"]:
        header["kid"] = account["private_key_id"]
    claims = {
        "iss": account["client_email"],
        "scope": scope,
        "aud": audience,
        "iat": now,
        "exp": now + 3600,
    }
    signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing}.{_b64url(signature)}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
