"""Recording approvals and revocations, after checking that the approver may approve."""

from __future__ import annotations

from datetime import timedelta

from lockgate.delivery.ledger.entry import Draft, format_time
from lockgate.delivery.ledger.identity import Identity
from lockgate.delivery.ledger.releases import first_author, first_with
from lockgate.delivery.ledger.store import LedgerStore
from lockgate.delivery.promotion.outcome import Outcome
from lockgate.delivery.promotion.refs import short
from lockgate.delivery.promotion.rules import EnvironmentRules


def approve(
    ledger: LedgerStore,
    rules: EnvironmentRules,
    actor: Identity,
    digest: str,
    *,
    expires_in: int | None = None,
    reason: str | None = None,
    author: str | None = None,
) -> Outcome:
    env, rule = rules.name, rules.approvers
    entries = ledger.entries()
    recorded = first_author(entries, digest)  # once promoted, the author is fixed
    author = recorded[0] if recorded else author or first_with(entries, digest, "author")  # type: ignore[assignment]
    refusals = []
    if not rule.members and not rule.listed:
        refusals.append(f"{env} lists no approvers: nothing to approve (environments[].approvers)")
    elif not rule.allows(actor.names()):
        refusals.append(
            f"{actor.name} ({actor.source}) is not an approver of {env} "
            f"(approvers: {', '.join(rule.listed)})"
        )
    if rule.four_eyes and author is not None and author in actor.names():
        refusals.append(
            f"{actor.name} authored {short(digest)} and {env} requires four eyes: "
            "someone else must approve"
        )
    base = {"actor": actor.name, "actor_source": actor.source, "environment": env, "digest": digest}
    proof = {"proof": dict(actor.proof)} if actor.proof else {}
    if refusals:
        e = ledger.append(
            Draft(
                action="refuse",
                reason="; ".join(refusals),
                details={"op": "approve", **proof},
                **base,
            )
        )
        return Outcome("approve", env, digest, "refused", tuple(refusals), (e.seq,))
    ttl = min(expires_in or rule.ttl, rule.ttl)
    expires = format_time(ledger.clock() + timedelta(seconds=ttl))
    e = ledger.append(
        Draft(
            action="approve",
            reason=reason,
            details={
                "expires": expires,
                "actor_names": sorted(actor.names()),
                "author": author,
                **proof,
            },
            **base,
        )
    )
    return Outcome(
        "approve",
        env,
        digest,
        "approved",
        (f"entry {e.seq}: {actor.name} approved {short(digest)} for {env} until {expires}",),
        (e.seq,),
    )


def revoke(
    ledger: LedgerStore,
    rules: EnvironmentRules,
    actor: Identity,
    digest: str,
    *,
    reason: str | None = None,
) -> Outcome:
    env = rules.name
    proof = {"proof": dict(actor.proof)} if actor.proof else {}
    mine = [
        e
        for e in ledger.entries()
        if e.environment == env
        and e.digest == digest
        and e.actor == actor.name
        and e.action in ("approve", "revoke")
    ]
    if not mine or mine[-1].action != "approve":
        line = f"{actor.name} has no standing approval of {short(digest)} for {env} to revoke"
        refused = ledger.append(
            Draft(
                action="refuse",
                actor=actor.name,
                actor_source=actor.source,
                environment=env,
                digest=digest,
                reason=line,
                details={"op": "revoke", **proof},
            )
        )
        return Outcome("revoke", env, digest, "refused", (line,), (refused.seq,))
    e = ledger.append(
        Draft(
            action="revoke",
            actor=actor.name,
            actor_source=actor.source,
            environment=env,
            digest=digest,
            reason=reason,
            details={"approval": mine[-1].seq, **proof},
        )
    )
    return Outcome(
        "revoke",
        env,
        digest,
        "revoked",
        (f"entry {e.seq}: {actor.name} revoked approval {mine[-1].seq}",),
        (e.seq,),
    )
