"""The promotion gate: may this digest enter this environment now? Every check that fails adds
one line to the decision's refusals; the decision is data, recorded in the ledger either way."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgate.delivery.ledger.entry import Entry
from lockgate.delivery.ledger.releases import Release, first_author, healthy_run, releases
from lockgate.delivery.promotion.approvals import count_approvals, elsewhere
from lockgate.delivery.promotion.protocols import ModelVersionRecord, Verdict
from lockgate.delivery.promotion.refs import ImageRef, short
from lockgate.delivery.promotion.rules import EnvironmentRules
from lockgate.engine.stage_env import without_userinfo
from lockgate.errors import LockgateError


@dataclass(frozen=True)
class GateDecision:
    environment: str
    digest: str
    refusals: tuple[str, ...]
    approvals: tuple[str, ...] = ()  # the approvers whose approvals counted
    approval_seqs: tuple[int, ...] = ()
    verify_reasons: tuple[str, ...] = field(default_factory=tuple)
    health: str = ""  # how the previous environment's health counted (manual or checked)

    @property
    def allowed(self) -> bool:
        return not self.refusals


@dataclass(frozen=True)
class Candidate:
    """What is being promoted, and what is known about where it came from."""

    image: ImageRef
    model: ModelVersionRecord | None = None
    tracking_uri: str | None = None
    pii_detected: tuple[str, ...] = ()
    author: str | None = None  # as the release carries it
    author_conflict: str = ""  # set when --author named someone else: a refusal


def read_pii(data_check: Path) -> tuple[str, ...]:
    """The ``pii_detected`` list of a data-check stage's ``data-check.json``."""
    try:
        raw = json.loads(data_check.read_text())
    except (OSError, ValueError) as exc:
        raise LockgateError(f"{data_check}: cannot read the data-check result ({exc})") from None
    found = raw.get("pii_detected", []) if isinstance(raw, dict) else None
    if not isinstance(found, list):
        raise LockgateError(f"{data_check}: `pii_detected` must be a list")
    return tuple(
        str(x) if not isinstance(x, dict) else json.dumps(x, sort_keys=True) for x in found
    )


def _allowed(value: str, prefixes: Sequence[str]) -> bool:
    value = value.rstrip("/")
    return any(value == p.rstrip("/") or value.startswith(p.rstrip("/") + "/") for p in prefixes)


def residency_refusals(rules: EnvironmentRules, c: Candidate) -> list[str]:
    r = rules.residency
    if r is None:
        return []
    where = f"policy.residency.{rules.name}"
    out = []
    if r.registries is not None and not _allowed(c.image.repository, r.registries):
        out.append(
            f"image {c.image.repository} is outside the registries allowed in "
            f"{rules.name} ({where}.registries: {', '.join(r.registries) or 'none'})"
        )
    if r.mlflow_servers is not None and c.model is not None:
        uri = c.tracking_uri or "(unknown)"
        if not _allowed(uri, r.mlflow_servers):
            out.append(
                f"model {c.model.name}/{c.model.version} comes from MLflow at "
                f"{without_userinfo(uri)}, "
                f"not allowed in {rules.name} ({where}.mlflow_servers)"
            )
    if r.artifact_stores is not None and c.model is not None:
        source = c.model.source or "(unknown)"
        if not _allowed(source, r.artifact_stores):
            out.append(
                f"model artifacts at {source} are outside the artifact stores allowed "
                f"in {rules.name} ({where}.artifact_stores)"
            )
    if not r.allow_pii and c.pii_detected:
        out.append(
            f"the model was trained on data flagged with PII by data-check "
            f"({', '.join(c.pii_detected[:3])}); {rules.name} forbids PII "
            f"({where}.allow_pii: false)"
        )
    return out


def decide(
    rules: EnvironmentRules,
    entries: Sequence[Entry],
    candidate: Candidate,
    verdict: Verdict,
    now: str,
) -> GateDecision:
    digest = candidate.image.digest
    refusals: list[str] = [candidate.author_conflict] if candidate.author_conflict else []
    if not verdict.passed:
        why = "; ".join(verdict.reasons) or "no reason given"
        refusals.append(f"verify failed for {candidate.image}: {why}")
    prev = rules.requires_healthy_in
    ran = healthy_run(entries, prev, digest) if prev is not None else None
    health = ""
    if ran is not None:
        how = f"marked healthy by hand by {ran.marked_by}" if ran.marked_by else "checked healthy"
        health = f"ran healthy in {prev}: {how} (entry {ran.health_seq})"
    if prev is not None and ran is None:
        refusals.append(
            f"{short(digest)} has not run healthy in {prev}: promote it there and "
            f"mark it healthy first (`lockgate health {prev}`)"
        )
    refusals += residency_refusals(rules, candidate)
    rule = rules.approvers
    counted: Any = None
    if rule.required:
        counted = count_approvals(entries, rule, digest, now, candidate.author)
        have = len(counted.valid)
        if have < rule.required:
            notes = list(counted.not_counted) + elsewhere(entries, rules.name, digest)
            extra = f" ({'; '.join(notes)})" if notes else ""
            refusals.append(
                f"{rules.name} needs {rule.required} valid approval(s) for {short(digest)}, has "
                f"{have}{extra}; approve with `lockgate approve {rules.name} --digest {digest}`"
            )
    return GateDecision(
        environment=rules.name,
        digest=digest,
        refusals=tuple(refusals),
        approvals=tuple(counted.names()) if counted else (),
        approval_seqs=tuple(e.seq for e in counted.valid) if counted else (),
        verify_reasons=tuple(verdict.reasons),
        health=health,
    )


def rollback_refusals(
    rules: EnvironmentRules,
    entries: Sequence[Entry],
    digest: str,
    now: str,
    actor_names: set[str],
    *,
    emergency: bool,
    author: str | None,
) -> tuple[list[str], dict[str, Any]]:
    """A rollback brings back an earlier digest: its approvals must still hold now, or the actor
    takes the recorded emergency path, which needs the environment's own ``emergency`` role."""
    rule, env = rules.approvers, rules.name
    if emergency:
        if actor_names & (rules.emergency | set(rules.emergency_listed)):
            return [], {"emergency": True}
        listed = ", ".join(rules.emergency_listed) or "nobody: set environments[].emergency"
        return [f"--emergency: you are not on {env}'s emergency list ({listed})"], {}
    if rule.required <= 0:
        return [], {}
    counted = count_approvals(entries, rule, digest, now, author)
    if len(counted.valid) >= rule.required:
        return [], {"approvals": [e.seq for e in counted.valid]}
    return [
        f"rolling back to {short(digest)} needs {rule.required} standing approval(s) for {env}, "
        f"found {len(counted.valid)}: approve it again (lockgate approve {env} --digest "
        f"{digest}) or, if you are on the emergency list, roll back with --emergency"
    ], {}


def carried_author(
    entries: list[Entry], digest: str, record: Any, claimed: str | None
) -> tuple[str | None, str]:
    """The change's author as the release carries it, and, when ``--author`` names someone
    else, the refusal. The first promotion of a digest fixes its author (``--author``, else the
    MLflow model version's user); from then on a claim must match it."""
    first = first_author(entries, digest)
    if first is None:
        return claimed or (str(record.user) if record is not None and record.user else None), ""
    carried = first[0]
    if claimed is None or claimed == carried:
        return carried, ""
    return carried, (
        f"--author {claimed} does not match the change's author, {carried} (recorded by the "
        f"first promotion of this digest, entry {first[1]}): the author comes from what the "
        "release carries and can never change along the way"
    )


def scan_record_refusals(
    entries: Sequence[Entry], digest: str, seen: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Compare the signed scan verdicts verify found now with those the ledger recorded for the
    digest before (registry push rights can delete an attestation layer; they cannot delete a
    ledger entry unnoticed). Returns the refusals and every verdict id known, to record."""
    recorded: dict[str, int] = {}
    for e in entries:
        if e.digest == digest:
            for vid in e.details.get("scan_verdicts") or ():
                recorded.setdefault(str(vid), e.seq)
    refusals = []
    gone = sorted(v for v in recorded if v not in seen)
    if gone:
        refusals.append(
            f"{len(gone)} signed scan verdict(s) for {short(digest)} recorded earlier are no "
            f"longer in the registry ({gone[0]}, recorded at entry {recorded[gone[0]]}): an "
            "attestation was deleted; re-sign with a passing scan under a new digest"
        )
    failed = sorted(v for v in recorded if v.endswith(":fail") and v in gone)
    if failed:
        refusals.append(
            f"a signed scan verdict that failed ({failed[0]}, entry {recorded[failed[0]]}) "
            "still counts after its deletion"
        )
    return refusals, sorted({*recorded, *seen})


@dataclass(frozen=True)
class RollbackPlan:
    """What a rollback decides, as its signed statement names it: the digest it goes back to
    and the one it replaces (``-`` for none)."""

    target: str
    replaced: str

    def moved(self, now: RollbackPlan, env: str) -> str:
        """Why this signed plan is no longer the rollback ``env`` would do, or ``""``."""
        if now == self:
            return ""
        return (
            f"{env} changed since the rollback was signed: it would now go back to "
            f"{short(now.target)} from {short(now.replaced)}, not to {short(self.target)} from "
            f"{short(self.replaced)}; sign anew (lockgate rollback {env} --print-statement)"
        )


def planned_rollback(entries: Sequence[Entry], env: str, to: str | None) -> RollbackPlan:
    history = releases(entries, env)
    target, _ = rollback_target(history, to)
    return RollbackPlan(target.digest if target else "-", history[-1].digest if history else "-")


def rollback_target(history: list[Release], to: str | None) -> tuple[Release | None, str]:
    """The release a rollback goes back to (``--to`` a digest, model or version; else the latest
    earlier one that ran healthy here), or None and why there is none."""
    if not history:
        return None, "nothing was ever released here: nothing to roll back to"
    now = history[-1]
    if to is not None:
        for r in reversed(history[:-1] if to != now.digest else history):
            if to in (r.digest, r.model) or (to.isdigit() and (r.model or "").endswith(f"/{to}")):
                return r, ""
        return None, f"--to {to}: no earlier release in this environment matches"
    for r in reversed(history):
        if r.digest != now.digest and r.healthy:
            return r, ""
    return None, (
        f"no earlier release ran healthy here before {short(now.digest)}: "
        "nothing safe to roll back to; pass --to"
    )
