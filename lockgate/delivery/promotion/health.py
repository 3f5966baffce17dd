"""Recording whether the release in an environment is healthy: asked of the deployer, or
marked by a person (who is recorded as the entry's actor) on the environment's
``health_markers`` list — anyone else's mark is refused and the refusal recorded."""

from __future__ import annotations

from lockgate.delivery.ledger.entry import Draft
from lockgate.delivery.ledger.identity import Identity
from lockgate.delivery.ledger.releases import Release, current
from lockgate.delivery.ledger.store import LedgerStore
from lockgate.delivery.promotion.outcome import Outcome
from lockgate.delivery.promotion.protocols import Deployer
from lockgate.delivery.promotion.refs import short
from lockgate.delivery.promotion.rules import EnvironmentRules
from lockgate.errors import LockgateError


def release_to_check(release: Release | None, env: str, digest: str | None) -> Release:
    """The release a verdict on ``env`` is about (``digest``, when given, must be it)."""
    if release is None:
        raise LockgateError(f"nothing has been released to {env}: nothing to check")
    if digest is not None and digest != release.digest:
        raise LockgateError(
            f"--digest {short(digest)}: {env} runs {short(release.digest)} "
            f"(entry {release.seq}), not that digest"
        )
    return release


def record_health(
    ledger: LedgerStore,
    deployer: Deployer,
    rules: EnvironmentRules,
    actor: Identity,
    *,
    mark: str | None = None,
    digest: str | None = None,
    reason: str | None = None,
) -> Outcome:
    env = rules.name
    release = release_to_check(current(ledger.entries(), env), env, digest)
    if mark is None:
        health = deployer.health(env)
        if health.status == "unknown":
            raise LockgateError(
                f"{env}: health is unknown ({health.detail}); mark it with --mark healthy|unhealthy"
            )
        status: str = health.status
        why: str | None = reason or health.detail
        check = "deployer"
    else:
        names = actor.names()
        if not names & (rules.health_markers | set(rules.health_markers_listed)):
            listed = ", ".join(rules.health_markers_listed) or (
                "nobody: set environments[].health_markers"
            )
            why = (
                f"{actor.name} ({actor.source}) may not mark {env}'s health by hand "
                f"(health_markers: {listed})"
            )
            e = ledger.append(
                Draft(
                    action="refuse",
                    actor=actor.name,
                    actor_source=actor.source,
                    environment=env,
                    digest=release.digest,
                    image=release.image,
                    model=release.model,
                    reason=why,
                    details={
                        "op": "health",
                        "mark": mark,
                        **({"proof": dict(actor.proof)} if actor.proof else {}),
                    },
                )
            )
            return Outcome("health", env, release.digest, "refused", (why,), (e.seq,))
        status, why, check = mark, reason, "manual"
    e = ledger.append(
        Draft(
            action=status,
            actor=actor.name,
            actor_source=actor.source,
            environment=env,
            digest=release.digest,
            image=release.image,
            model=release.model,
            reason=why,
            details={"check": check, **({"proof": dict(actor.proof)} if actor.proof else {})},
        )
    )
    line = f"entry {e.seq}: {short(release.digest)} in {env} is {status} ({check})"
    return Outcome("health", env, release.digest, status, (line,), (e.seq,))
