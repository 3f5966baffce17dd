"""The image verifier promotion uses: an adapter over ``lockgate.supply.verify.verify_image``
(signature, attestations, scan verdict), imported when first used. Without that module, every
verification fails closed, saying why."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.delivery.promotion.protocols import Verdict
from lockgate.errors import LockgateError

if TYPE_CHECKING:
    from lockgate.spec.models import Pipeline


class SupplyVerifier:
    """``lockgate verify`` as promotion's first gate. The verify policy (trusted key, required
    attestations, scan policy) comes from the file the spec names in ``policy.verify``;
    ``plain_http`` (``--plain-http``, or ``LOCKGATE_VERIFY_PLAIN_HTTP=1``) talks to a test
    registry on loopback over plain HTTP; any other host is refused."""

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        spec_root: Path | None = None,
        *,
        plain_http: bool = False,
    ) -> None:
        self.pipeline = pipeline
        self.spec_root = spec_root or Path.cwd()
        self.plain_http = plain_http

    def verify(self, ref: str) -> Verdict:
        try:
            supply_verify = importlib.import_module("lockgate.supply.verify")
            policies = importlib.import_module("lockgate.supply.verify_policy")
        except ImportError as exc:
            return Verdict(False, (f"image verification is unavailable ({exc}): refusing",))
        plain = self.plain_http or os.environ.get("LOCKGATE_VERIFY_PLAIN_HTTP", "") not in ("", "0")
        try:
            policy = policies.load_verify_policy(self._policy_path(), {})
            report = supply_verify.verify_ref(ref, policy, plain_http=plain)
        except LockgateError as exc:
            return Verdict(False, (str(exc),))
        return Verdict(bool(report.passed), _reasons(report), _facts(report))

    def _policy_path(self) -> Path | None:
        name = self.pipeline.policy.verify if self.pipeline is not None else None
        return (self.spec_root / name) if name else None


def _reasons(report: Any) -> tuple[str, ...]:
    return tuple(f"{r.name}: {r.reason}" for r in report.requirements if not r.passed)


def _facts(report: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in report.facts.items()}
