"""A Vault child token for one stage attempt: the host's ``VAULT_TOKEN`` creates it with
``POST /v1/auth/token/create`` (the policies ``encryption.vault_policies`` names, a TTL and an
explicit maximum TTL of the stage's timeout plus a minute, not renewable), and the stage is
given only it. After the attempt lockgate revokes it (``POST /v1/auth/token/revoke-self`` with
the child token itself); Vault also revokes a child when its parent is revoked.

Vault creates a child with only a subset of its parent's policies, unless the parent is a root
token; it refuses otherwise, and lockgate reports that before the stage starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lockgate.engine.kms.http import Unreachable, base_url, post, trust
from lockgate.engine.sealing import SealError

NO_TIMEOUT_SECONDS = 3_600  # a stage with no timeout: an hour
START_MARGIN = 60  # the token is made before the stage's clock starts


def token_seconds(timeout: int | None) -> int:
    """How long a stage's child token lives: its timeout plus a minute (an hour and a minute
    with no timeout); Vault may shorten it to its own maximum TTL."""
    return (NO_TIMEOUT_SECONDS if timeout is None else timeout) + START_MARGIN


class ChildTokens:
    """Makes and revokes the child tokens of the host's ``VAULT_TOKEN``."""

    def __init__(
        self,
        credentials: Mapping[str, str],
        policies: tuple[str, ...],
        ca_file: Path | None,
        where: str = "encryption.stage_credentials",
    ) -> None:
        self.where, self.policies = where, policies
        self.tls = trust(ca_file, where)
        self.addr = base_url(credentials["VAULT_ADDR"], f"{where}: VAULT_ADDR")
        self.namespace = credentials.get("VAULT_NAMESPACE") or ""
        self._parent = credentials["VAULT_TOKEN"]

    def for_stage(self, name: str, timeout: int | None) -> dict[str, str]:
        """A child token for the stage attempt ``name``: what the stage's Vault client needs."""
        ttl = f"{token_seconds(timeout)}s"
        body = {
            "policies": list(self.policies),
            "ttl": ttl,
            "explicit_max_ttl": ttl,
            "renewable": False,
            "display_name": name,
            "num_uses": 0,
        }
        status, answer = self._post("create", self._parent, body)
        auth = answer.get("auth")
        token = auth.get("client_token") if isinstance(auth, dict) else None
        if status != 200 or not isinstance(token, str) or not token:
            raise SealError(self._refused(status, answer))
        given = {"VAULT_ADDR": self.addr, "VAULT_TOKEN": token}
        return {**given, "VAULT_NAMESPACE": self.namespace} if self.namespace else given

    def release(self, minted: Mapping[str, str]) -> str | None:
        """Revoke the child token in ``minted``; what went wrong, or None (best effort: it
        expires at its TTL anyway)."""
        try:
            status, answer = self._post("revoke-self", minted["VAULT_TOKEN"], {})
        except SealError as exc:
            return f"{exc} (it expires at its TTL)"
        if status == 204 or status == 200:
            return None
        return (
            f"{self.where}: Vault did not revoke the stage's child token ({status} "
            f"{_errors(answer)}); it expires at its TTL"
        )

    def _post(self, action: str, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        headers = {"X-Vault-Token": token}
        if self.namespace:
            headers["X-Vault-Namespace"] = self.namespace
        try:
            return post(
                f"{self.addr}/v1/auth/token/{action}", headers, json_body=body, context=self.tls
            )
        except Unreachable as exc:
            raise SealError(
                f"{self.where}: cannot reach Vault at {self.addr} ({exc}): check VAULT_ADDR and "
                "the network; the stage was not started"
            ) from None

    def _refused(self, status: int, answer: dict[str, Any]) -> str:
        errors = _errors(answer)
        if "subset" in errors:
            hint = (
                f"give VAULT_TOKEN's own token the policies {', '.join(self.policies)}, or name "
                "only policies it has in encryption.vault_policies"
            )
        elif status == 403:
            hint = (
                "VAULT_TOKEN may not create tokens: its policies need the update capability on "
                "auth/token/create"
            )
        else:
            hint = "check VAULT_TOKEN in encryption.credentials and encryption.vault_policies"
        return (
            f"{self.where}: Vault refused to create the stage's child token ({status} "
            f"{errors}): {hint}; the stage was not started"
        )


def _errors(answer: dict[str, Any]) -> str:
    errors = answer.get("errors")
    said = "; ".join(str(e) for e in errors) if isinstance(errors, list) else ""
    return " ".join(said.split())[:300]
