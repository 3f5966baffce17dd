"""Vault's transit engine over its HTTP API: ``datakey/plaintext`` for a fresh data key,
``decrypt`` to unwrap it.

The URI follows cosign's form, ``hashivault://KEYNAME``: a transit key, mounted at
``transit/``. ``VAULT_ADDR`` and ``VAULT_TOKEN`` (and ``VAULT_NAMESPACE``) come only from the
declared secrets named in ``encryption.credentials``; the token travels in the
``X-Vault-Token`` header and nowhere else, so ``VAULT_ADDR`` must be ``https://`` (``http://``
only on a loopback address).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from lockgate.engine.kms import DataKey
from lockgate.engine.kms.http import base_url, tls_reason, trust
from lockgate.engine.sealing import SealError

MOUNT = "transit"


class VaultTransit:
    def __init__(
        self, uri: str, credentials: Mapping[str, str], where: str, ca_file: Path | None = None
    ) -> None:
        self.uri, self.where = uri, where
        self.tls = trust(ca_file, where)
        self.key = uri.removeprefix("hashivault://")
        if not self.key or "/" in self.key:
            raise SealError(f"{uri}: expected hashivault://KEYNAME (a transit key's name)")
        # the token travels in a header: plain HTTP only to a loopback address
        self.addr = base_url(credentials["VAULT_ADDR"], f"{where}: VAULT_ADDR")
        self.headers = {"X-Vault-Token": credentials["VAULT_TOKEN"]}
        if credentials.get("VAULT_NAMESPACE"):
            self.headers["X-Vault-Namespace"] = credentials["VAULT_NAMESPACE"]

    def generate(self) -> DataKey:
        data = self._post("datakey/plaintext", {"bits": 256})
        return DataKey(base64.b64decode(data["plaintext"]), str(data["ciphertext"]), self.key)

    def unwrap(self, wrapped: str, kms_key: str) -> bytes:
        if kms_key != self.key:
            raise SealError(
                f"{self.where}: the data key was wrapped by Vault key {kms_key!r}, but the "
                f"configured key is {self.key!r}; configure the key that wrapped it"
            )
        return base64.b64decode(self._post("decrypt", {"ciphertext": wrapped})["plaintext"])

    def _post(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        import urllib.error
        import urllib.request

        url = f"{self.addr}/v1/{MOUNT}/{action}/{quote(self.key, safe='')}"
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            headers={**self.headers, "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.tls) as resp:
                return dict(json.loads(resp.read())["data"])
        except urllib.error.HTTPError as exc:
            raise SealError(self._refused(action, exc.code, _errors(exc))) from None
        except (urllib.error.URLError, OSError) as exc:
            raise SealError(
                f"{self.where}: cannot reach Vault at {self.addr} ({tls_reason(exc)}): check "
                "VAULT_ADDR and the network; nothing was sealed"
            ) from None
        except (ValueError, KeyError, TypeError):
            raise SealError(f"{self.where}: Vault at {self.addr} answered unexpectedly") from None

    def _refused(self, action: str, status: int, errors: str) -> str:
        if status == 403:
            return (
                f"{self.where}: Vault denied transit/{action} on key {self.key!r} (403 "
                f"{errors}): check VAULT_TOKEN in encryption.credentials and its policy"
            )
        if "not found" in errors or status == 404:
            return (
                f"{self.where}: Vault has no transit key {self.key!r} ({status} {errors}): "
                "check the key name, or create it with: vault write -f transit/keys/NAME"
            )
        if action == "decrypt":
            return (
                f"{self.where}: Vault key {self.key!r} cannot unwrap the data key ({status} "
                f"{errors}): it was wrapped by another key or altered; configure the key that "
                "wrapped it, or re-run with --no-cache"
            )
        return f"{self.where}: Vault transit/{action} failed ({status} {errors})"


def _errors(exc: Any) -> str:
    try:
        return "; ".join(str(e) for e in json.loads(exc.read())["errors"])
    except (ValueError, KeyError, TypeError, OSError):
        return exc.reason or ""
