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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.delivery.ledger.entry import Draft, Entry, format_time
from lockgate.delivery.ledger.identity import Identity
from lockgate.delivery.ledger.releases import (
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
    RollbackPlan,
    carried_author,
    decide,
    planned_rollback,
    read_pii,
    residency_refusals,
    rollback_refusals,
    rollback_target,
    scan_record_refusals,
)
from lockgate.delivery.promotion.outcome import Outcome
from lockgate.delivery.promotion.protocols import Deployer, ImageVerifier, ModelRegistry, Verdict
from lockgate.delivery.promotion.refs import ImageRef, ModelRef, parse_image, parse_model, short
from lockgate.delivery.promotion.release_steps import Releaser
from lockgate.delivery.promotion.rules import EnvironmentRules, environment_rules

if TYPE_CHECKING:
    from lockgate.spec.models import Pipeline


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
        self.releaser = Releaser(self.record, registry, ledger.clock)

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
                running = deployer.current(env)
                if running is None or image.digest in running:
                    # nothing deployed, yet a decision: recorded (with the proof), like any other
                    why = f"{env} already runs {short(image.digest)} (entry {now.seq})"
                    e = self.record(
                        "unchanged",
                        env,
                        digest=image.digest,
                        image=str(image),
                        model=now.model,
                        reason=why,
                        details={"op": "promote", "release": now.seq},
                    )
                    lines.append(f"entry {e.seq}: {why}")
                    return Outcome(
                        "promote", env, image.digest, "unchanged", tuple(lines), (e.seq,)
                    )
                # an interrupted step deployed something the ledger never recorded: converge
                lines.append(
                    f"{env} runs {running}, not {short(image.digest)} as entry {now.seq} "
                    "records: deploying it again"
                )
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
            return self.releaser.release(
                "promote", rules, deployer, image, model_text, reason, details, lines
            )

    def rollback(
        self,
        env: str,
        *,
        to: str | None = None,
        reason: str | None = None,
        emergency: bool = False,
        signed: RollbackPlan | None = None,
    ) -> Outcome:
        """``signed``: the rollback the actor's statement names; one that no longer matches
        what the ledger now decides (the environment moved on) is refused."""
        rules = self.rules(env)
        deployer = self.deployer_for(rules.deployer)
        with self.environment_lock(env):
            lines = self._close_interrupted(env, deployer)
            entries = self.ledger.entries()
            history = releases(entries, env)
            target, why_not = rollback_target(history, to)
            moved = signed.moved(planned_rollback(entries, env, to), env) if signed else ""
            if moved:
                target, why_not = None, moved
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
            # residency as a promotion checks it now (the policy may have tightened since):
            # the registry, the model's MLflow server and artifacts, the recorded PII
            refusals += residency_refusals(rules, self._candidate(image, entries, None, None, None))
            seen = verdict.facts.get("scan_verdicts", "").split()
            scan_refusals, scan_verdicts = scan_record_refusals(entries, image.digest, seen)
            refusals += scan_refusals
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
                **({"scan_verdicts": scan_verdicts} if scan_verdicts else {}),
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
            return self.releaser.release(
                "rollback", rules, deployer, image, target.model, reason, details, lines
            )
