"""Rollout decisions in the release ledger: who decided, proven, and what the analysis did next.

A person's decision (``lockgate rollout start|retry|resume|promote|abort``) is recorded as a
``rollout`` entry with its proof, under the environment's rollout lock and before anything
changes, once the record still says what the signed statement says; otherwise the command is
refused and the refusal recorded. What the analysis then decides by itself (it completes the
canary, aborts it on a failed window or pauses it) is a second ``rollout`` entry whose actor is
``lockgate`` (``actor_source`` ``analysis``), pointing at the decision it followed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lockgate.delivery.ledger.entry import Draft, Entry
from lockgate.delivery.rollout.decision import ANALYSED, RolloutDecision
from lockgate.delivery.rollout.rollouts import NothingToDo, RolloutResult
from lockgate.errors import LockgateError

if TYPE_CHECKING:
    from lockgate.delivery.ledger.identity import Identity
    from lockgate.delivery.ledger.store import LedgerStore
    from lockgate.delivery.rollout.state import RolloutState

SYSTEM = ("lockgate", "analysis")  # actor, actor_source of what the analysis decides itself


class RolloutRefused(LockgateError):
    """The environment moved on since the decision was signed (recorded as a refusal)."""

    exit_code = 1


def decided_by_analysis(op: str, status: str) -> bool:
    """Whether the outcome ``status`` of ``op`` is the analysis's own decision rather than the
    person's: a canary it completed, aborted or paused (Argo's analysis may also abort a
    candidate promoted in full)."""
    if status not in ("completed", "aborted", "paused"):
        return False
    return op in ANALYSED or (op == "rollout promote" and status != "completed")


@dataclass
class RecordedDecision:
    """Records ``signed``, proven for ``actor``, in ``store``; ``again`` recomputes the decision
    from the record found under the lock."""

    store: LedgerStore
    env: str
    actor: Identity
    signed: RolloutDecision
    again: Callable[[RolloutState], RolloutDecision]
    reason: str | None = None
    seq: int | None = None  # the decision's entry, once written

    def _draft(self, action: str, reason: str | None, **details: Any) -> Draft:
        if self.actor.proof:
            details["proof"] = dict(self.actor.proof)
        digest = self.signed.digest
        return Draft(
            action=action,
            actor=self.actor.name,
            actor_source=self.actor.source,
            environment=self.env,
            digest=digest if digest.startswith("sha256:") else None,
            image=self.signed.image,
            reason=reason,
            details={"op": self.signed.op, **details},
        )

    def decide(self, state: RolloutState) -> None:
        """Under the lock: refuse (recorded) when the record moved on, else record the
        decision."""
        try:
            now: RolloutDecision | str = self.again(state)
        except NothingToDo as exc:
            now = str(exc)
        moved = self.signed.moved(now, self.env)
        if moved:
            self.store.append(self._draft("refuse", moved))
            raise RolloutRefused(moved)
        terms = dict(self.signed.terms)
        self.seq = self.store.append(self._draft("rollout", self.reason, terms=terms)).seq

    def outcome(self, result: RolloutResult) -> Entry | None:
        """The analysis's own decision that ended this run, recorded as the system's."""
        if self.seq is None or not decided_by_analysis(self.signed.op, result.status):
            return None
        digest = self.signed.digest
        details: dict[str, Any] = {"op": "analysis", "outcome": result.status}
        details["decision"] = self.seq
        if result.measurements:
            details["measurement"] = dict(result.measurements[-1])
        return self.store.append(
            Draft(
                action="rollout",
                actor=SYSTEM[0],
                actor_source=SYSTEM[1],
                environment=self.env,
                digest=digest if digest.startswith("sha256:") else None,
                image=self.signed.image,
                reason=result.reason,
                details=details,
            )
        )
