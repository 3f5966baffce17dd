"""The release rules of one environment, read once from the spec: its place in the promotion
order, who approves, residency, which deployer and which MLflow alias."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.delivery.ledger.identity import IdentitySettings
from lockgate.delivery.ledger.oidc import TrustedIssuer
from lockgate.delivery.promotion.approvals import ApproverRule, load_groups, resolve_members
from lockgate.errors import LockgateError

if TYPE_CHECKING:
    from lockgate.spec.models import Pipeline, Residency


@dataclass(frozen=True)
class EnvironmentRules:
    name: str
    requires_healthy_in: str | None
    approvers: ApproverRule
    residency: Residency | None
    deployer: str
    model_alias: str
    emergency: frozenset[str] = frozenset()  # who may roll back without standing approvals
    emergency_listed: tuple[str, ...] = ()
    health_markers: frozenset[str] = frozenset()  # who may mark health by hand
    health_markers_listed: tuple[str, ...] = ()


def environment_rules(pipeline: Pipeline, spec_root: Path, env: str) -> EnvironmentRules:
    names = [e.name for e in pipeline.environments]
    if env not in names:
        known = ", ".join(names) or "none: add `environments:` to lockgate.yaml"
        raise LockgateError(f"unknown environment {env!r} (environments: {known})")
    index = names.index(env)
    spec = pipeline.environments[index]
    policy = pipeline.policy
    previous = _previous(pipeline, index)
    if previous is not None and previous not in names:
        raise LockgateError(
            f"environments[{index}].requires_healthy_in: unknown environment {previous!r}"
        )
    for key in policy.residency:
        if key not in names:
            raise LockgateError(f"policy.residency.{key}: unknown environment {key!r}")
    groups_file = spec_root / policy.groups_file if policy.groups_file else None
    groups = load_groups(pipeline.groups, groups_file)
    rule = ApproverRule(
        environment=env,
        listed=tuple(spec.approvers),
        members=resolve_members(spec.approvers, groups),
        required=spec.required_approvals,
        four_eyes=spec.four_eyes,
        ttl=spec.approval_ttl or policy.approval_ttl,
    )
    markers = tuple(
        spec.health_markers
        if spec.health_markers is not None
        else dict.fromkeys((*spec.approvers, *spec.emergency))
    )
    alias = spec.model_alias or ("champion" if index == len(names) - 1 else env)
    return EnvironmentRules(
        name=env,
        requires_healthy_in=previous,
        approvers=rule,
        residency=policy.residency.get(env),
        deployer=spec.deployer,
        model_alias=alias,
        emergency=resolve_members(spec.emergency, groups),
        emergency_listed=tuple(spec.emergency),
        health_markers=resolve_members(markers, groups),
        health_markers_listed=markers,
    )


def promotion_gates(pipeline: Pipeline, env: str) -> tuple[str, ...]:
    """The gates ``lockgate promote`` holds ``env`` to, each named by what asks for it; none for
    an environment not listed under ``environments`` (only the older delivery.yaml describes
    it) or listed without any. Verification counts once ``policy.verify`` names a policy:
    without one there is nothing to verify against, and promote refuses every image. Read from
    the spec alone (no groups file), so a command that only asks which gates there are needs
    nothing else."""
    names = [e.name for e in pipeline.environments]
    if env not in names:
        return ()
    index = names.index(env)
    spec = pipeline.environments[index]
    verify = pipeline.policy.verify
    gates = [f"verify against policy.verify ({verify})"] if verify else []
    previous = _previous(pipeline, index)
    if previous is not None:
        gates.append(f"ran healthy in {previous} first")
    if spec.required_approvals:
        gates.append(f"{spec.required_approvals} approval(s)")
    if spec.four_eyes:
        gates.append("four eyes")
    if env in pipeline.policy.residency:
        gates.append(f"policy.residency.{env}")
    return tuple(gates)


def _previous(pipeline: Pipeline, index: int) -> str | None:
    """The environment a release must have run healthy in before entering the ``index``-th."""
    spec = pipeline.environments[index]
    return spec.requires_healthy_in or (pipeline.environments[index - 1].name if index else None)


def identity_settings(pipeline: Pipeline, spec_root: Path) -> IdentitySettings:
    """Where identities are proven from: the allowed-signers file and the trusted CI issuers."""
    policy = pipeline.policy
    return IdentitySettings(
        allowed_signers=spec_root / policy.allowed_signers if policy.allowed_signers else None,
        issuers=tuple(TrustedIssuer(i.issuer, i.audience, i.actor_claim) for i in policy.oidc),
    )
