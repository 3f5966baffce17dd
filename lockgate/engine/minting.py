"""``encryption.stage_credentials: minted``: what a stage that reaches the KMS itself is given
instead of the credentials ``encryption.credentials`` names.

Before each attempt of such a stage, the host's credentials mint short-lived ones (see
:mod:`lockgate.engine.kms.aws_sts`), written into the stage's secrets folder under the names
:data:`lockgate.spec.keys.MINTED` gives them; the long-lived ones are read on the host only.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from lockgate.engine.plan import Plan
from lockgate.engine.secrets import resolve_secrets
from lockgate.engine.stagespec import StageSpec
from lockgate.spec.keys import MINTED


class StageCredentials:
    """Mints a stage's credentials; built once per run, only when a stage needs them."""

    def __init__(self, plan: Plan, declared: Mapping[str, Mapping[str, Any]]) -> None:
        self.plan, self.declared = plan, declared
        self._minter: Any = None
        self._lock = threading.Lock()  # stages run on worker threads

    def __call__(self, spec: StageSpec) -> dict[str, str]:
        """File name in the secrets folder -> value, for one attempt of ``spec``."""
        from lockgate.engine.kms.aws_sts import session_name, session_seconds

        with self._lock:
            role = self._role()
        minted = role.mint(
            session_name(self.plan.pipeline_name, spec.name), session_seconds(spec.timeout)
        )
        values = {
            "AWS_ACCESS_KEY_ID": minted.access_key_id,
            "AWS_SECRET_ACCESS_KEY": minted.secret_access_key,
            "AWS_SESSION_TOKEN": minted.session_token,
            "AWS_REGION": minted.region,
        }
        return {MINTED[name]: value for name, value in values.items()}

    def _role(self) -> Any:
        if self._minter is None:
            from lockgate.engine.kms.aws_sts import RoleMinter

            plan = self.plan
            assert plan.encryption is not None and plan.encryption_role is not None
            names = dict(plan.encryption_credentials)
            values = resolve_secrets(self.declared, sorted(set(names.values())), plan.project)
            credentials = {name: values[secret] for name, secret in names.items()}
            ca = plan.project / plan.encryption_ca if plan.encryption_ca else None
            self._minter = RoleMinter(
                plan.encryption, credentials, plan.encryption_role, plan.encryption_sts, ca
            )
        return self._minter
