"""Azure Key Vault over its REST API (7.4): the data key is made here and wrapped with the
vault key's ``wrapkey`` (RSA-OAEP-256); ``unwrapkey`` on the key version that wrapped it unwraps
it.

The URI follows cosign's form, ``azurekms://VAULT_NAME.vault.azure.net/KEY[/VERSION]``; the
vault is spoken to over HTTPS, except on a loopback address (a local stand-in), which is plain
HTTP. The key version that wrapped the data key (the ``kid`` the wrap call answers) is recorded.

Authentication: the client-credentials grant of the Microsoft identity platform (v2.0): the
declared secrets that ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID`` and ``AZURE_CLIENT_SECRET`` name
are exchanged at ``AUTHORITY/TENANT/oauth2/v2.0/token`` for an access token to the vault (scope
``https://vault.azure.net/.default``), sent as a bearer token and kept in memory only.
``AZURE_AUTHORITY_HOST`` replaces ``https://login.microsoftonline.com`` (a sovereign cloud).
A stage given minted credentials (:mod:`lockgate.engine.minting`) has no client secret: only
``AZURE_ACCESS_TOKEN`` and ``AZURE_ACCESS_TOKEN_EXPIRY`` (Unix seconds), used until then.
"""

from __future__ import annotations

import base64
import os
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lockgate.engine.kms import DataKey
from lockgate.engine.kms.http import (
    Unreachable,
    base_url,
    host_url,
    lifetime,
    live_token,
    minted_token,
    post,
    trust,
)
from lockgate.engine.sealing import SealError
from lockgate.spec.keys import AZURE_KEY

AUTHORITY = "https://login.microsoftonline.com"
API_VERSION = "7.4"
ALG = "RSA-OAEP-256"
# the vault's resource for the token scope, by the DNS suffix of the vault
RESOURCES = ("vault.azure.cn", "vault.usgovcloudapi.net", "managedhsm.azure.net")


class AzureKeyVault:
    def __init__(
        self, uri: str, credentials: Mapping[str, str], where: str, ca_file: Path | None = None
    ) -> None:
        self.uri, self.where = uri, where
        self.tls = trust(ca_file, where)
        match = AZURE_KEY.fullmatch(uri)
        if match is None:
            raise SealError(f"{uri}: expected azurekms://VAULT_NAME.vault.azure.net/KEY[/VERSION]")
        self.host, self.name, self.version = match["host"], match["name"], match["version"]
        self.vault = host_url(self.host)
        suffix = next((s for s in RESOURCES if self.host.endswith("." + s)), "vault.azure.net")
        self.scope = f"https://{suffix}/.default"
        self._token: tuple[str, float] | None = None  # (access token, expiry), memory only
        if "AZURE_CLIENT_SECRET" not in credentials:  # a minted access token, nothing more
            self._token = minted_token(credentials, "AZURE_ACCESS_TOKEN", where)
            self.minted, self.client_id = True, "named in encryption.credentials"
            return
        self.minted = False
        authority = (credentials.get("AZURE_AUTHORITY_HOST") or AUTHORITY).strip()
        if "://" not in authority:  # a bare host, as Azure's own tools accept it
            authority = f"https://{authority}"
        self.authority = base_url(authority, f"{where}: AZURE_AUTHORITY_HOST")
        self.tenant = credentials["AZURE_TENANT_ID"].strip()
        self.client_id = credentials["AZURE_CLIENT_ID"].strip()
        self._secret = credentials["AZURE_CLIENT_SECRET"].strip()

    def generate(self) -> DataKey:
        plain = os.urandom(32)
        key = f"{self.name}/{self.version}" if self.version else self.name
        answer = self._call("wrapkey", key, _b64url(plain))
        kid = str(answer.get("kid", ""))
        if self._version_of(kid) is None:
            raise SealError(
                f"{self.where}: Key Vault answered wrapkey with key {kid!r}, not a version of "
                f"{self.name} in {self.host}; nothing was sealed"
            )
        return DataKey(plain, str(answer["value"]), kid)

    def unwrap(self, wrapped: str, kms_key: str) -> bytes:
        version = self._version_of(kms_key)
        if version is None:
            raise SealError(
                f"{self.where}: the data key was wrapped by Key Vault key {kms_key}, but the "
                f"configured key is {self.name} in {self.host}; configure the key that wrapped it"
            )
        answer = self._call("unwrapkey", f"{self.name}/{version}", wrapped)
        try:
            return _unb64url(str(answer["value"]))
        except ValueError:
            raise SealError(f"{self.where}: Key Vault answered unwrapkey unexpectedly") from None

    def _version_of(self, kid: str) -> str | None:
        """The version in a key identifier ``https://HOST/keys/NAME/VERSION`` of this key."""
        parts = urllib.parse.urlsplit(kid)
        segments = parts.path.strip("/").split("/")
        if parts.netloc.lower() != self.host.lower() or len(segments) != 3:
            return None
        if segments[:2] != ["keys", self.name] or not segments[2]:
            return None
        return None if self.version and segments[2] != self.version else segments[2]

    def _call(self, op: str, key: str, value: str) -> dict[str, Any]:
        url = f"{self.vault}/keys/{key}/{op}?api-version={API_VERSION}"
        try:
            status, answer = post(
                url,
                {"Authorization": f"Bearer {self._access()}"},
                json_body={"alg": ALG, "value": value},
                context=self.tls,
            )
        except Unreachable as exc:
            raise SealError(
                f"{self.where}: cannot reach Key Vault at {self.vault} ({exc}): check the vault "
                "in encryption.key and the network; nothing was sealed"
            ) from None
        if status == 200 and isinstance(answer.get("value"), str):
            return answer
        raise SealError(self._refused(op, status, answer))

    def _refused(self, op: str, status: int, answer: dict[str, Any]) -> str:
        found = answer.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        code, message = str(error.get("code", status)), str(error.get("message", "")).strip()
        said = f"{status} {code}: {message}" if message else f"{status} {code}"
        if status == 401:
            return (
                f"{self.where}: Key Vault {self.host} refused the access token for {op} "
                f"({said}): "
                + (
                    "the token minted for this stage has expired or was refused"
                    if self.minted
                    else "check the AZURE_* credentials in encryption.credentials"
                )
            )
        if status == 403:
            return (
                f"{self.where}: Key Vault {self.host} denied {op} on key {self.name} ({said}): "
                f"give client {self.client_id} the wrapKey and unwrapKey permissions on the key "
                "(e.g. the Key Vault Crypto Service Encryption User role)"
            )
        if status == 404 or code == "KeyNotFound":
            return (
                f"{self.where}: Key Vault {self.host} has no key {self.name} ({said}): check the "
                "vault, key and version in encryption.key"
            )
        if op == "unwrapkey" and status == 400:
            return (
                f"{self.where}: Key Vault key {self.name} cannot unwrap the data key ({said}): it "
                "was wrapped by another key or altered; configure the key that wrapped it, or "
                "re-run with --no-cache"
            )
        return f"{self.where}: Key Vault {op} on key {self.name} failed ({said})"

    def _access(self) -> str:
        """An access token to the vault, asked for once and reused until it expires."""
        if self.minted:
            return live_token(self._token, "Key Vault", self.where)
        if self._token is not None and self._token[1] > time.time() + 60:
            return self._token[0]
        self._token = self.access_token()
        return self._token[0]

    def access_token(self) -> tuple[str, float]:
        """A fresh access token to the vault (scope ``https://vault.azure.net/.default`` or the
        sovereign cloud's), and when it expires."""
        assert not self.minted, "a minted access token cannot mint another"
        url = f"{self.authority}/{urllib.parse.quote(self.tenant, safe='')}/oauth2/v2.0/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
            "scope": self.scope,
        }
        try:
            status, answer = post(url, {}, form=form, context=self.tls)
        except Unreachable as exc:
            raise SealError(
                f"{self.where}: cannot reach the Microsoft identity platform at {self.authority} "
                f"({exc}): check AZURE_AUTHORITY_HOST and the network; nothing was sealed"
            ) from None
        token = answer.get("access_token")
        if status != 200 or not isinstance(token, str) or not token:
            said = str(answer.get("error_description") or "").strip().splitlines()
            raise SealError(
                f"{self.where}: the Microsoft identity platform refused client {self.client_id} "
                f"of tenant {self.tenant} ({status} {answer.get('error', '')}: "
                f"{said[0] if said else ''}): check AZURE_TENANT_ID, AZURE_CLIENT_ID and "
                "AZURE_CLIENT_SECRET in encryption.credentials"
            )
        return token, time.time() + lifetime(answer.get("expires_in"))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
