"""The ``Deployer`` the promotion ledger calls: ``deploy(env, ref)``, ``current(env)``,
``health(env)``. It runs the environment's configured strategy and returns outcomes as data,
measurements included, so the ledger can record why a promotion was refused."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgate.delivery.rollout.rollouts import Rollouts


@dataclass(frozen=True)
class DeployResult:
    env: str
    ref: str
    ok: bool
    status: str  # deployed | completed | aborted | paused | rolled-back
    reason: str
    previous_ref: str | None = None
    measurements: tuple[Mapping[str, Any], ...] = ()

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


@dataclass(frozen=True)
class Health:
    env: str
    ok: bool
    ref: str | None
    phase: str
    detail: str
    extra: Mapping[str, Any] = field(default_factory=dict)


class DeliveryDeployer:
    """Adapts :class:`Rollouts` to the promotion ledger's protocol."""

    def __init__(
        self,
        delivery: Path | None = None,
        open_env: Callable[..., Rollouts] | None = None,
        *,
        start: Path | None = None,
    ) -> None:
        from lockgate.delivery.environment import open_environment

        self.delivery = delivery
        self.start = start
        self.open_env = open_env or open_environment

    def _rollouts(self, env: str) -> Rollouts:
        if self.start is None:
            return self.open_env(env, self.delivery, quiet=True)
        return self.open_env(env, self.delivery, quiet=True, start=self.start)

    def deploy(self, env: str, ref: str) -> DeployResult:
        rollouts = self._rollouts(env)
        before = rollouts.status().stable
        result = rollouts.start(ref)
        return DeployResult(
            env=env,
            ref=ref,
            ok=result.status in ("deployed", "completed"),
            status=result.status,
            reason=result.reason,
            previous_ref=before.ref if before else None,
            measurements=result.measurements,
        )

    def current(self, env: str) -> str | None:
        stable = self._rollouts(env).status().stable
        return stable.ref if stable else None

    def health(self, env: str) -> Health:
        rollouts = self._rollouts(env)
        state = rollouts.status()
        if state.stable is None:
            return Health(env, False, None, state.phase, "nothing deployed")
        if not rollouts.target.running(state.stable):
            return Health(env, False, state.stable.ref, state.phase, "live version is not running")
        try:
            with urllib.request.urlopen(f"{rollouts.target.url()}/ping", timeout=2) as answer:
                ok = answer.status == 200
        except (urllib.error.URLError, OSError) as error:
            return Health(env, False, state.stable.ref, state.phase, f"/ping failed: {error}")
        return Health(
            env, ok, state.stable.ref, state.phase, "answers /ping" if ok else "bad /ping"
        )
