"""A Cloud KMS access token for one stage attempt; the stage is given only the token and its
expiry, never the service account's key.

Without ``encryption.service_account`` the host's account (``GOOGLE_SERVICE_ACCOUNT_KEY``) asks
its token endpoint for a token scoped to ``https://www.googleapis.com/auth/cloudkms`` only. With
it, the host's account (scope ``cloud-platform``, which the IAM Credentials API requires) calls
``projects/-/serviceAccounts/EMAIL:generateAccessToken`` for a token of that narrower account,
scoped to Cloud KMS only: it needs ``roles/iam.serviceAccountTokenCreator`` on it.

Google's tokens last at most an hour (``lifetime`` above 3600s needs an organization policy
lockgate does not assume): a stage's token lasts its timeout plus a minute, capped at an hour.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from lockgate.engine.kms.gcp import SCOPE, GcpKms
from lockgate.engine.kms.http import Unreachable, base_url, post
from lockgate.engine.sealing import SealError

IAM_CREDENTIALS = "https://iamcredentials.googleapis.com"
PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
MAX_SECONDS = 3_600
START_MARGIN = 60


def token_seconds(timeout: int | None) -> int:
    """A stage's token lifetime: its timeout plus a minute, at most Google's hour."""
    return MAX_SECONDS if timeout is None else min(MAX_SECONDS, timeout + START_MARGIN)


class KmsAccessTokens:
    """Mints Cloud KMS access tokens from the host's service account key."""

    def __init__(
        self,
        uri: str,
        credentials: Mapping[str, str],
        service_account: str | None,
        ca_file: Path | None,
        where: str = "encryption.stage_credentials",
    ) -> None:
        self.kms = GcpKms(uri, credentials, where, ca_file)
        self.service_account, self.where = service_account, where
        self.endpoint = credentials.get("GOOGLE_KMS_ENDPOINT") or ""
        iam = credentials.get("GOOGLE_IAM_CREDENTIALS_ENDPOINT") or IAM_CREDENTIALS
        self.iam = base_url(iam, f"{where}: GOOGLE_IAM_CREDENTIALS_ENDPOINT")

    def for_stage(self, name: str, timeout: int | None) -> dict[str, str]:
        """What the stage's Cloud KMS client needs: a token for Cloud KMS and its expiry."""
        if self.service_account is None:
            token, expiry = self.kms.access_token(SCOPE)
            expiry = min(expiry, time.time() + token_seconds(timeout))
        else:
            token, expiry = self._impersonate(token_seconds(timeout))
        given = {"GOOGLE_ACCESS_TOKEN": token, "GOOGLE_ACCESS_TOKEN_EXPIRY": str(int(expiry))}
        return {**given, "GOOGLE_KMS_ENDPOINT": self.endpoint} if self.endpoint else given

    def release(self, minted: Mapping[str, str]) -> str | None:
        return None  # Google's access tokens are not revoked; they expire

    def _impersonate(self, seconds: int) -> tuple[str, float]:
        host_token, _ = self.kms.access_token(PLATFORM)
        account = quote(str(self.service_account), safe="@.")
        url = f"{self.iam}/v1/projects/-/serviceAccounts/{account}:generateAccessToken"
        body = {"scope": [SCOPE], "lifetime": f"{seconds}s"}
        try:
            status, answer = post(
                url,
                {"Authorization": f"Bearer {host_token}"},
                json_body=body,
                context=self.kms.tls,
            )
        except Unreachable as exc:
            raise SealError(
                f"{self.where}: cannot reach the IAM Credentials API at {self.iam} ({exc}): "
                "check GOOGLE_IAM_CREDENTIALS_ENDPOINT and the network; the stage was not started"
            ) from None
        token = answer.get("accessToken")
        expiry = _rfc3339(answer.get("expireTime"))
        if status == 200 and isinstance(token, str) and token and expiry is not None:
            return token, expiry
        raise SealError(self._refused(status, answer))

    def _refused(self, status: int, answer: dict[str, Any]) -> str:
        found = answer.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        code = str(error.get("status", status))
        message = " ".join(str(error.get("message", "")).split())[:300]
        said = f"{status} {code}: {message}" if message else f"{status} {code}"
        host = self.kms.account["client_email"] if self.kms.account else "the host's account"
        if code == "PERMISSION_DENIED" or status == 403:
            hint = f"grant {host} roles/iam.serviceAccountTokenCreator on {self.service_account}"
        else:
            hint = "check encryption.service_account"
        return (
            f"{self.where}: IAM Credentials refused generateAccessToken for "
            f"{self.service_account} ({said}): {hint}; the stage was not started"
        )


def _rfc3339(value: object) -> float | None:
    """Unix seconds of a timestamp such as ``2026-11-29T06:00:00Z`` (or with fractions)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
