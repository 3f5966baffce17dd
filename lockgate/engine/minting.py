"""``encryption.stage_credentials: minted``: what a stage that reaches the KMS itself is given
instead of the credentials ``encryption.credentials`` names.

Before each attempt of such a stage, the host's credentials mint short-lived ones, one module
per KMS (:data:`MINTERS`), written into the stage's secrets folder under the names
:data:`lockgate.spec.keys.MINTED` gives them; the long-lived ones are read on the host only.
After the attempt what can be revoked is (a Vault child token).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from lockgate.engine.plan import Plan
from lockgate.engine.secrets import resolve_secrets
from lockgate.engine.stagespec import StageSpec
from lockgate.spec.keys import ENVELOPE_SCHEMES, MINTED_PUBLIC, minted_files


class Minter(Protocol):
    def for_stage(self, name: str, timeout: int | None) -> dict[str, str]:
        """What the stage's KMS client needs (need -> value) for one attempt."""
        ...

    def release(self, minted: Mapping[str, str]) -> str | None:
        """Revoke what was minted where the KMS allows it; what went wrong, or None."""
        ...


def _aws(plan: Plan, credentials: Mapping[str, str], ca: Path | None) -> Minter:
    from lockgate.engine.kms.aws_sts import RoleMinter

    assert plan.encryption is not None and plan.encryption_role is not None
    return RoleMinter(plan.encryption, credentials, plan.encryption_role, plan.encryption_sts, ca)


def _vault(plan: Plan, credentials: Mapping[str, str], ca: Path | None) -> Minter:
    from lockgate.engine.kms.vault_token import ChildTokens

    return ChildTokens(credentials, plan.encryption_vault_policies, ca)


def _gcp(plan: Plan, credentials: Mapping[str, str], ca: Path | None) -> Minter:
    from lockgate.engine.kms.gcp_token import KmsAccessTokens

    assert plan.encryption is not None
    return KmsAccessTokens(plan.encryption, credentials, plan.encryption_service_account, ca)


def _azure(plan: Plan, credentials: Mapping[str, str], ca: Path | None) -> Minter:
    from lockgate.engine.kms.azure_token import VaultAccessTokens

    assert plan.encryption is not None
    return VaultAccessTokens(plan.encryption, credentials, ca)


MINTERS = {"awskms://": _aws, "hashivault://": _vault, "gcpkms://": _gcp, "azurekms://": _azure}


def minted_name(pipeline: str, stage: str) -> str:
    """``lockgate-PIPELINE-STAGE`` in the characters and length every KMS takes for the name it
    records (STS's session name, Vault's display name)."""
    return re.sub(r"[^\w+=,.@-]", "-", f"lockgate-{pipeline}-{stage}")[:64]


class StageCredentials:
    """Mints a stage's credentials; built once per run, only when a stage needs them."""

    def __init__(self, plan: Plan, declared: Mapping[str, Mapping[str, Any]]) -> None:
        self.plan, self.declared = plan, declared
        self._minter: Minter | None = None
        self._lock = threading.Lock()  # stages run on worker threads

    def __call__(self, spec: StageSpec) -> dict[str, str]:
        """File name in the secrets folder -> value, for one attempt of ``spec``."""
        with self._lock:
            minter = self._get()
        values = minter.for_stage(minted_name(self.plan.pipeline_name, spec.name), spec.timeout)
        return {file: values[need] for need, file in self._files().items() if need in values}

    def masked(self, minted: Mapping[str, str]) -> list[str]:
        """The minted values that are credentials (not an address or an expiry time)."""
        public = {self._files().get(need) for need in MINTED_PUBLIC}
        return [value for file, value in minted.items() if file not in public]

    def release(self, minted: Mapping[str, str]) -> str | None:
        """Revoke what :meth:`__call__` minted, where the KMS allows it (best effort)."""
        files = self._files()
        values = {need: minted[file] for need, file in files.items() if file in minted}
        with self._lock:
            minter = self._get()
        return minter.release(values)

    def _files(self) -> dict[str, str]:
        assert self.plan.encryption is not None
        return minted_files(self.plan.encryption, dict(self.plan.encryption_credentials))

    def _get(self) -> Minter:
        if self._minter is None:
            plan = self.plan
            assert plan.encryption is not None
            names = dict(plan.encryption_credentials)
            values = resolve_secrets(self.declared, sorted(set(names.values())), plan.project)
            credentials = {name: values[secret] for name, secret in names.items()}
            ca = plan.project / plan.encryption_ca if plan.encryption_ca else None
            prefix = next(p for p in ENVELOPE_SCHEMES if plan.encryption.startswith(p))
            self._minter = MINTERS[prefix](plan, credentials, ca)
        return self._minter
