"""The writing half of a promotion or rollback, once the gates have let it through:
begin -> deploy -> move the model alias -> promote/rollback entry -> the deployer's health.
A failed deploy closes its begin with an abort, so the ledger never keeps an open begin for a
process that is still alive."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from lockgate.delivery.ledger.entry import Entry, format_time
from lockgate.delivery.promotion.outcome import Outcome
from lockgate.delivery.promotion.protocols import Deployer, ModelRegistry
from lockgate.delivery.promotion.refs import ImageRef, parse_model
from lockgate.delivery.promotion.rules import EnvironmentRules


class Releaser:
    """Writes a release through ``record`` (the promoter's, which adds the actor and proof)."""

    def __init__(
        self,
        record: Callable[..., Entry],
        registry: ModelRegistry | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.record = record
        self.registry = registry
        self.clock = clock

    def release(
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
        begin = self._entry("begin", env, image, model, reason, {**details, "op": op})
        result = deployer.deploy(env, str(image))
        if not result.ok:
            why = f"deploy failed: {result.detail}"
            abort_details = {"begin": begin.seq, "op": op}
            abort = self._entry("abort", env, image, model, why, abort_details)
            failed = (*lines, f"deploy of {image} to {env} failed: {result.detail}")
            return Outcome(op, env, image.digest, "failed", failed, (begin.seq, abort.seq))
        alias_note = self._move_alias(rules, model, env, image.digest)
        done = self._entry(
            op, env, image, model, reason, {**details, "begin": begin.seq, "alias": alias_note}
        )
        verb = "promoted" if op == "promote" else "rolled back"
        lines.append(f"entry {done.seq}: {verb} {image} in {env}; {alias_note}")
        seqs = [begin.seq, done.seq]
        checked = self._health(deployer, env, image, model, lines)
        if checked is not None:
            seqs.append(checked)
        status = "promoted" if op == "promote" else "rolled-back"
        return Outcome(op, env, image.digest, status, tuple(lines), tuple(seqs))

    def _entry(
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

    def _health(
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
        entry = self._entry(health.status, env, image, model, health.detail, {"check": "deployer"})
        lines.append(f"entry {entry.seq}: {health.status}: {health.detail}")
        return entry.seq

    def _move_alias(self, rules: EnvironmentRules, model: str | None, env: str, digest: str) -> str:
        if model is None:
            return "no model version on record: no alias moved"
        if self.registry is None:
            return f"no model registry configured: alias {rules.model_alias} not moved"
        ref = parse_model(model)
        when = format_time(self.clock())
        try:
            self.registry.set_alias(ref.name, rules.model_alias, ref.version)
            self.registry.tag_version(ref.name, ref.version, f"lockgate.{env}", when)
            self.registry.tag_version(ref.name, ref.version, "lockgate.image_digest", digest)
        except Exception as exc:  # the registry is a mirror; the ledger entry still stands
            return f"alias {rules.model_alias} NOT moved ({type(exc).__name__}: {exc})"
        return f"alias {rules.model_alias} -> {ref.name}/{ref.version}"
