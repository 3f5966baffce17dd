"""Promote and roll back: verify -> gate -> record intent -> deploy -> move the alias -> record.

Each step that decides something leaves an entry. A promotion holds a per-environment lock for
its whole length, so a ``begin`` found without its ``promote``/``rollback``/``abort`` belongs to a
process that died: the next promotion records an ``abort`` for it and starts over, which
converges because deploying the same digest again is harmless.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.delivery.ledger.entry import Draft, Entry, format_time
from lockgate.delivery.ledger.identity import Identity
from lockgate.delivery.ledger.releases import (
    Release,
    current,
    first_author,
    first_with,
    image_of,
    model_of,
    open_begin,
    releases,
)
from lockgate.delivery.ledger.store import LedgerStore
from lockgate.delivery.promotion.gates import (
    Candidate,
    GateDecision,
    carried_author,
    decide,
    read_pii,
    residency_refusals,
    rollback_refusals,
    scan_record_refusals,
)
from lockgate.delivery.promotion.protocols import Deployer, ImageVerifier, ModelRegistry, Verdict
from lockgate.delivery.promotion.refs import ImageRef, ModelRef, parse_image, parse_model, short
from lockgate.delivery.promotion.rules import EnvironmentRules, environment_rules

if TYPE_CHECKING:
    from lockgate.spec.models import Pipeline


@dataclass(frozen=True)
class Outcome:
    action: str
    environment: str
    digest: str | None
    status: str  # promoted | rolled-back | unchanged | approved | revoked | refused | failed
    lines: tuple[str, ...]
    seqs: tuple[int, ...] = ()

    @property
    def exit_code(self) -> int:
        return 1 if self.status in ("refused", "failed") else 0


class Promoter:
    def __init__(
        self,
        *,
        pipeline: Pipeline,
        spec_root: Path,
        ledger: LedgerStore,
        verifier: ImageVerifier,
        deployer_for: Callable[[str], Deployer],
        registry: ModelRegistry | None,
        actor: Identity,
    ) -> None:
        self.pipeline = pipeline
        self.spec_root = spec_root
        self.ledger = ledger
        self.verifier = verifier
        self.deployer_for = deployer_for
        self.registry = registry
        self.actor = actor

    def rules(self, env: str) -> EnvironmentRules:
        return environment_rules(self.pipeline, self.spec_root, env)

    @contextlib.contextmanager
    def environment_lock(self, env: str) -> Iterator[None]:
        self.ledger.folder.mkdir(parents=True, exist_ok=True)
        with open(self.ledger.folder / f"{env}.promote.lock", "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def record(self, action: str, env: str, **fields: Any) -> Entry:
        if self.actor.proof:  # how the actor was proven, with every entry they cause
            fields["details"] = {**fields.get("details", {}), "proof": dict(self.actor.proof)}
        return self.ledger.append(
            Draft(
                action=action,
                actor=self.actor.name,
                actor_source=self.actor.source,
                environment=env,
                **fields,
            )
        )

    def _close_interrupted(self, env: str, deployer: Deployer) -> list[str]:
        stale = open_begin(self.ledger.entries(), env)
        if stale is None:
            return []
        running = deployer.current(env) or "nothing"
        why = (
            f"interrupted: {stale.details.get('op', 'promotion')} of {short(stale.digest)} "
            f"(entry {stale.seq}) never completed; {env} runs {running}"
        )
        e = self.record(
            "abort",
            env,
            digest=stale.digest,
            image=stale.image,
            model=stale.model,
            reason=why,
            details={"begin": stale.seq},
        )
        return [f"entry {e.seq}: abort: {why}"]

    def _candidate(
        self,
        image: ImageRef,
        entries: list[Entry],
        model: ModelRef | None,
        author: str | None,
        data_check: Path | None,
    ) -> Candidate:
        recorded = model_of(entries, image.digest)
        model = model or (parse_model(recorded) if recorded else None)
        record = None
        if model is not None and self.registry is not None:
            record = self.registry.describe(model.name, model.version)
        recorded_pii = first_with(entries, image.digest, "pii_detected")
        pii = (
            read_pii(data_check)
            if data_check
            else tuple(str(x) for x in (recorded_pii if isinstance(recorded_pii, list) else ()))
        )
        carried, conflict = carried_author(entries, image.digest, record, author)
        uri = self.registry.tracking_uri if self.registry else None
        return Candidate(image, record, uri, pii, carried, conflict)

    def promote(
        self,
        env: str,
        image_ref: str,
        *,
        model: ModelRef | None = None,
        author: str | None = None,
        data_check: Path | None = None,
        reason: str | None = None,
    ) -> Outcome:
        rules = self.rules(env)
        image = parse_image(image_ref)
        deployer = self.deployer_for(rules.deployer)
        with self.environment_lock(env):
            lines = self._close_interrupted(env, deployer)
            entries = self.ledger.entries()
            now = current(entries, env)
            if (
                now is not None
                and now.digest == image.digest
                and now.action in ("promote", "rollback")
            ):
                lines.append(f"{env} already runs {short(image.digest)} (entry {now.seq})")
                return Outcome("promote", env, image.digest, "unchanged", tuple(lines))
            cand = self._candidate(image, entries, model, author, data_check)
            verdict = self.verifier.verify(str(image))
            decision = decide(rules, entries, cand, verdict, format_time(self.ledger.clock()))
            seen = verdict.facts.get("scan_verdicts", "").split()
            scan_refusals, scan_verdicts = scan_record_refusals(entries, image.digest, seen)
            if scan_refusals:
                decision = GateDecision(
                    **{**decision.__dict__, "refusals": (*decision.refusals, *scan_refusals)}
                )
            if rules.approvers.four_eyes and cand.author is None:
                decision = GateDecision(
                    **{
                        **decision.__dict__,
                        "refusals": (
                            *decision.refusals,
                            f"{env} requires four eyes but the change's author is "
                            "unknown: pass --author (who triggered the training)",
                        ),
                    }
                )
            details = {
                "author": cand.author,
                **({"claimed_author": author} if author and author != cand.author else {}),
                "pii_detected": list(cand.pii_detected),
                "verify": list(verdict.reasons),
                "approvals": list(decision.approval_seqs),
                "approvers": list(decision.approvals),
                **({"health": decision.health} if decision.health else {}),
                **({"scan_verdicts": scan_verdicts} if scan_verdicts else {}),
            }
            if decision.health and decision.allowed:
                lines.append(decision.health)
            model_text = (
                f"models:/{cand.model.name}/{cand.model.version}"
                if cand.model
                else (str(model) if model else model_of(entries, image.digest))
            )
            if not decision.allowed:
                e = self.record(
                    "refuse",
                    env,
                    digest=image.digest,
                    image=str(image),
                    model=model_text,
                    reason="; ".join(decision.refusals),
                    details={**details, "op": "promote"},
                )
                return Outcome(
                    "promote", env, image.digest, "refused", (*lines, *decision.refusals), (e.seq,)
                )
            return self._deploy(
                "promote", rules, deployer, image, model_text, reason, details, lines
            )

    def rollback(
        self,
        env: str,
        *,
        to: str | None = None,
        reason: str | None = None,
        emergency: bool = False,
    ) -> Outcome:
        rules = self.rules(env)
        deployer = self.deployer_for(rules.deployer)
        with self.environment_lock(env):
            lines = self._close_interrupted(env, deployer)
            entries = self.ledger.entries()
            history = releases(entries, env)
            target, why_not = _rollback_target(history, to)
            if target is None:
                e = self.record("refuse", env, reason=why_not, details={"op": "rollback"})
                return Outcome("rollback", env, None, "refused", (*lines, why_not), (e.seq,))
            image = parse_image(target.image or image_of(entries, target.digest) or "")
            verdict: Verdict = self.verifier.verify(str(image))
            refusals = (
                []
                if verdict.passed
                else [
                    f"verify failed for {image}: {'; '.join(verdict.reasons) or 'no reason given'}"
                ]
            )
            refusals += residency_refusals(rules, Candidate(image))
            first = first_author(entries, image.digest)
            author = first[0] if first else first_with(entries, image.digest, "author")
            refused, approved = rollback_refusals(
                rules,
                entries,
                image.digest,
                format_time(self.ledger.clock()),
                self.actor.names(),
                emergency=emergency,
                author=str(author) if author else None,
            )
            refusals += refused
            details = {
                "verify": list(verdict.reasons),
                "target": target.seq,
                "from": history[-1].digest if history else None,
                **approved,
            }
            if refusals:
                e = self.record(
                    "refuse",
                    env,
                    digest=image.digest,
                    image=str(image),
                    model=target.model,
                    reason="; ".join(refusals),
                    details={**details, "op": "rollback"},
                )
                return Outcome(
                    "rollback", env, image.digest, "refused", (*lines, *refusals), (e.seq,)
                )
            return self._deploy(
                "rollback", rules, deployer, image, target.model, reason, details, lines
            )

    def _deploy(
        self,
        op: str,
        rules: EnvironmentRules,
        deployer: Deployer,
        image: ImageRef,
        model: str | None,
        reason: str | None,
        details: dict[str, Any],
        lines: list[str],
    ) -> Outcome:
        """begin -> deploy -> move the alias -> promote/rollback entry -> the deployer's health;
        a failed deploy closes the begin with an abort."""
        env = rules.name
        begin = self._record_release("begin", env, image, model, reason, {**details, "op": op})
        result = deployer.deploy(env, str(image))
        if not result.ok:
            why = f"deploy failed: {result.detail}"
            abort_details = {"begin": begin.seq, "op": op}
            abort = self._record_release("abort", env, image, model, why, abort_details)
            failed = (*lines, f"deploy of {image} to {env} failed: {result.detail}")
            return Outcome(op, env, image.digest, "failed", failed, (begin.seq, abort.seq))
        alias_note = self._move_alias(rules, model, env, image.digest)
        done = self._record_release(
            op, env, image, model, reason, {**details, "begin": begin.seq, "alias": alias_note}
        )
        verb = "promoted" if op == "promote" else "rolled back"
        lines.append(f"entry {done.seq}: {verb} {image} in {env}; {alias_note}")
        seqs = [begin.seq, done.seq]
        checked = self._record_health(deployer, env, image, model, lines)
        if checked is not None:
            seqs.append(checked)
        status = "promoted" if op == "promote" else "rolled-back"
        return Outcome(op, env, image.digest, status, tuple(lines), tuple(seqs))

    def _record_release(
        self,
        action: str,
        env: str,
        image: ImageRef,
        model: str | None,
        reason: str | None,
        details: dict[str, Any],
    ) -> Entry:
        return self.record(
            action,
            env,
            digest=image.digest,
            image=str(image),
            model=model,
            reason=reason,
            details=details,
        )

    def _record_health(
        self, deployer: Deployer, env: str, image: ImageRef, model: str | None, lines: list[str]
    ) -> int | None:
        """The deployer's health verdict as an entry (its seq), or how to mark it by hand."""
        health = deployer.health(env)
        if health.status == "unknown":
            lines.append(
                f"health unknown ({health.detail}); mark it: lockgate health {env} "
                "--mark healthy|unhealthy"
            )
            return None
        entry = self._record_release(
            health.status, env, image, model, health.detail, {"check": "deployer"}
        )
        lines.append(f"entry {entry.seq}: {health.status}: {health.detail}")
        return entry.seq

    def _move_alias(self, rules: EnvironmentRules, model: str | None, env: str, digest: str) -> str:
        if model is None:
            return "no model version on record: no alias moved"
        if self.registry is None:
            return f"no model registry configured: alias {rules.model_alias} not moved"
        ref = parse_model(model)
        when = format_time(self.ledger.clock())
        try:
            self.registry.set_alias(ref.name, rules.model_alias, ref.version)
            self.registry.tag_version(ref.name, ref.version, f"lockgate.{env}", when)
            self.registry.tag_version(ref.name, ref.version, "lockgate.image_digest", digest)
        except Exception as exc:  # the registry is a mirror; the ledger entry still stands
            return f"alias {rules.model_alias} NOT moved ({type(exc).__name__}: {exc})"
        return f"alias {rules.model_alias} -> {ref.name}/{ref.version}"


def _rollback_target(history: list[Release], to: str | None) -> tuple[Release | None, str]:
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
