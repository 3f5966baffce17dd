"""The image verifier promotion uses: an adapter over ``lockgate.supply.verify.verify_image``
(signature, attestations, scan verdict), imported when first used. Without that module, every
verification fails closed, saying why."""

from __future__ import annotations

import importlib
from typing import Any

from lockgate.delivery.protocols import Verdict


class SupplyVerifier:
    def __init__(self, policy: Any = None) -> None:
        self.policy = policy

    def verify(self, ref: str) -> Verdict:
        try:
            module = importlib.import_module("lockgate.supply.verify")
        except ImportError:
            return Verdict(
                False,
                (
                    "image verification is not available in this lockgate "
                    "(lockgate.supply.verify is missing): refusing unverified "
                    "images",
                ),
            )
        report = module.verify_image(ref, self.policy)
        return Verdict(bool(report.passed), _reasons(report), _facts(report))


def _reasons(report: Any) -> tuple[str, ...]:
    reasons = getattr(report, "reasons", None)
    if reasons is None:
        reasons = [getattr(r, "reason", str(r)) for r in getattr(report, "requirements", ())]
    return tuple(str(r) for r in reasons)


def _facts(report: Any) -> dict[str, str]:
    facts = getattr(report, "facts", None) or getattr(report, "attestations", None) or {}
    return {str(k): str(v) for k, v in dict(facts).items()} if hasattr(facts, "items") else {}
