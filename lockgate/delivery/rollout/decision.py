"""What a rollout decision decides, as its signed statement names it.

``lockgate rollout start|retry|resume|promote|abort`` changes an environment's traffic or ends a
canary. The person who does it signs a statement (:mod:`lockgate.delivery.ledger.statement`)
naming the operation, the environment, the digest of the version it decides about and every
term: the image, the version it is compared with or goes back to, the candidate's weight now and
the steps it takes or skips. The terms are read from the environment's rollout record, so a
statement signed for one state of the rollout proves nothing once the rollout moved on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lockgate.delivery.rollout.rollouts import NothingToDo
from lockgate.delivery.rollout.state import RolloutState
from lockgate.delivery.rollout.targets.base import Version

# the ops whose run the analysis drives: it moves traffic step by step and may end the canary
ANALYSED = ("rollout start", "rollout retry", "rollout resume")


@dataclass(frozen=True)
class RolloutDecision:
    """One rollout decision: ``op`` on ``digest`` (``-`` when the image reference pins none) of
    ``image``, on ``terms`` (name, value) in the order the statement prints them."""

    op: str
    digest: str
    image: str
    terms: tuple[tuple[str, str], ...]

    def moved(self, now: RolloutDecision | str, env: str) -> str:
        """Why this signed decision is no longer what the command would do, or ``""``."""
        if now == self:
            return ""
        sign = f"sign anew (lockgate {self.op} {env} --print-statement)"
        if isinstance(now, str):  # the rollout no longer allows the operation at all
            return f"{env} changed since the {self.op} was signed: {now}; {sign}"
        was = dict((("digest", self.digest), *self.terms))
        changed = [(n, v) for n, v in (("digest", now.digest), *now.terms) if was.get(n) != v]
        name, value = changed[0] if changed else ("image", now.image)
        return (
            f"{env} changed since the {self.op} was signed: its {name} is now {value}, not "
            f"{was.get(name, '-')}; {sign}"
        )


def digest_of(ref: str) -> str:
    """The digest an image reference pins (``REG/NAME@sha256:…`` or ``sha256:…``), else ``-``."""
    pinned = ref.rpartition("@")[2]
    return pinned if pinned.startswith("sha256:") else "-"


def _ref(version: Version | None) -> str:
    return version.ref if version is not None else "-"


def _weights(weights: list[int]) -> str:
    return ", ".join(f"{w}%" for w in weights) or "-"


def _plan(settings: Any) -> str:
    if settings.strategy == "blue-green":
        return "blue-green: a smoke test, then 100%"
    return _weights([s.weight for s in settings.canary.steps])


def _set_env(pairs: tuple[tuple[str, str], ...]) -> str:
    return json.dumps(dict(pairs), sort_keys=True) if pairs else "-"


def _in_flight(state: RolloutState) -> bool:
    return state.phase in ("progressing", "paused") and state.canary is not None


def _start(
    op: str, state: RolloutState, settings: Any, ref: str, pairs: tuple[tuple[str, str], ...]
) -> RolloutDecision:
    flight = f"{state.canary.ref} at {state.weight}%" if state.canary and _in_flight(state) else "-"
    terms = (
        ("image", ref),
        ("set-env", _set_env(pairs)),
        ("stable", _ref(state.stable)),
        ("in flight", flight),
        ("steps", _plan(settings) if state.stable is not None else "first version: 100%"),
    )
    return RolloutDecision(op, digest_of(ref), ref, terms)


def decision_for(
    action: str,
    state: RolloutState,
    settings: Any,  # EnvironmentDelivery
    *,
    ref: str | None = None,
    env_pairs: tuple[tuple[str, str], ...] = (),
    full: bool = False,
) -> RolloutDecision:
    """What ``lockgate rollout ACTION`` decides on ``state``; :class:`NothingToDo` when the
    action does not apply to it (the same refusals the rollout engine gives)."""
    env = state.env
    if action == "start":
        if ref is None:
            raise NothingToDo("lockgate rollout start: --ref IMAGE is required")
        return _start("rollout start", state, settings, ref, env_pairs)
    if action == "retry":
        if state.phase != "aborted" or state.canary is None:
            raise NothingToDo(
                f"environment {env!r} has no aborted rollout to retry ({state.phase})"
            )
        return _start("rollout retry", state, settings, state.canary.ref, state.canary.env)
    if action == "abort":
        if state.canary is not None and _in_flight(state):
            leaving, weight, back = state.canary, state.weight, state.stable
        elif state.previous is not None and state.stable is not None:
            leaving, weight, back = state.stable, 100, state.previous
        else:
            raise NothingToDo(f"environment {env!r} has no previous version to roll back to")
        terms = (("image", leaving.ref), ("weight", f"{weight}%"), ("back to", _ref(back)))
        return RolloutDecision("rollout abort", digest_of(leaving.ref), leaving.ref, terms)
    if not _in_flight(state) or state.canary is None:
        what = "rollout to promote" if full else "paused rollout"
        raise NothingToDo(f"environment {env!r} has no {what} ({state.phase})")
    candidate = state.canary.ref
    steps = settings.canary.steps if state.strategy == "canary" else ()
    left = _weights([s.weight for s in steps[state.step :]])
    now = (("image", candidate), ("stable", _ref(state.stable)), ("weight", f"{state.weight}%"))
    if full:
        full_terms = (*now, ("to", "100% now"), ("skipping", left))
        return RolloutDecision("rollout promote", digest_of(candidate), candidate, full_terms)
    return RolloutDecision(
        "rollout resume", digest_of(candidate), candidate, (*now, ("steps", left))
    )
