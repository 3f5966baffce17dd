"""Driving one environment: start, resume, abort, roll back, converge.

Every change is recorded (``StateStore.save``) before it is made, and every entry point first
*converges* the environment to its record: the versions the record names are running, the
routing matches its weights, nothing else of the environment is left. That is what makes
``lockgate`` killed at any moment safe to run again.

Strategies (``canary.py``, ``bluegreen.py``) use the primitives here: ``promote`` (the candidate
becomes stable at 100%) and ``abort_candidate`` (stable at 100%, candidate stopped).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lockgate.delivery.rollout.state import RolloutState, StateStore
from lockgate.delivery.rollout.strategies import strategy
from lockgate.delivery.rollout.targets.base import RouteChange, Target, Version
from lockgate.errors import EXIT_FAILED, EXIT_OK, LockgateError

Status = Literal["deployed", "completed", "aborted", "paused", "rolled-back", "unchanged"]
# called under the environment's lock with the record a decision applies to, before anything
# changes: it may refuse (raise); the command's proven decision is recorded there
Decide = Callable[[RolloutState], None]


def _anyone(state: RolloutState) -> None:
    """The engine's own callers (the ``rollout`` deployer, tests) decide nothing more."""


class NothingToDo(LockgateError):
    """The command does not apply to the environment's current state."""


@dataclass(frozen=True)
class RolloutResult:
    """What a rollout command did; the exit code is computed from it."""

    env: str
    status: Status
    stable: Version | None
    candidate: Version | None = None
    reason: str = ""
    measurements: tuple[Mapping[str, Any], ...] = ()
    failed_at: float | None = None  # end of the failing measurement
    rollback: RouteChange | None = None  # when stable-only routing took effect
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """1 when analysis aborted the candidate; 0 otherwise. A paused rollout exits 0: it
        did what it was asked and now waits for a person (``status`` says ``paused``)."""
        return EXIT_FAILED if self.status == "aborted" else EXIT_OK

    def as_record(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "status": self.status,
            "stable": self.stable.as_record() if self.stable else None,
            "candidate": self.candidate.as_record() if self.candidate else None,
            "reason": self.reason,
            "measurements": [dict(m) for m in self.measurements],
            "failed_at": self.failed_at,
            "rollback_effective_at": self.rollback.effective_at if self.rollback else None,
        }


class Rollouts:
    def __init__(
        self,
        env: str,
        settings: Any,  # EnvironmentDelivery
        target: Target,
        store: StateStore,
        *,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.env = env
        self.settings = settings
        self.target = target
        self.store = store
        self.sleep = sleep
        self.log = log

    # -- entry points -------------------------------------------------------------------------
    def status(self) -> RolloutState:
        return self.store.load(self.env)

    def observe(self) -> RolloutState:
        """The record; with the Argo router, first brought up to date with the live Rollout
        (unless another lockgate process drives the environment and records it itself)."""
        state = self.store.load(self.env)
        if not self.delegates or state.canary is None:
            return state
        if state.phase not in ("progressing", "paused"):
            return state
        from lockgate.delivery.rollout.argo import observe
        from lockgate.delivery.rollout.state import EnvironmentBusy

        try:
            with self.store.locked(self.env):
                return observe(self, self.store.load(self.env))[0]
        except EnvironmentBusy:
            return state

    def start(
        self, ref: str, env_vars: Mapping[str, str] | None = None, decide: Decide = _anyone
    ) -> RolloutResult:
        env_pairs = tuple(sorted((env_vars or {}).items()))
        with self.store.locked(self.env):
            state = self.converge(self.store.load(self.env))
            decide(state)
            if state.phase in ("progressing", "paused") and state.canary is not None:
                if (state.canary.ref, state.canary.env) == (ref, env_pairs):
                    self.log(f"{self.env}: continuing the interrupted rollout of {ref}")
                    return self._continue(state.evolve(phase="progressing"))
                state, _ = self.abort_candidate(state, f"superseded by a rollout of {ref}")
            version = Version(state.next_revision, ref, env_pairs)
            state = state.evolve(next_revision=state.next_revision + 1)
            if state.stable is None:
                return self._first_deploy(state, version)
            state = self.store.save(
                state.evolve(
                    phase="progressing",
                    strategy=self.settings.strategy,
                    canary=version,
                    weight=0,
                    step=0,
                    failures=0,
                    reason="",
                    measurements=(),
                )
            )
            return self._continue(state)

    def resume(self, decide: Decide = _anyone) -> RolloutResult:
        with self.store.locked(self.env):
            state = self.converge(self.store.load(self.env))
            decide(state)
            if state.phase not in ("paused", "progressing") or state.canary is None:
                raise NothingToDo(f"environment {self.env!r} has no paused rollout ({state.phase})")
            if self.delegates:
                from lockgate.delivery.rollout.argo import ask, resume_patch

                ask(self.target, resume_patch)
            return self._continue(self.store.save(state.evolve(phase="progressing", reason="")))

    def promote_full(
        self, reason: str = "promoted in full by request", decide: Decide = _anyone
    ) -> RolloutResult:
        """Skip the remaining steps: the candidate becomes stable at 100% now. The skipped
        steps are recorded as a measurement with outcome ``skipped``."""
        with self.store.locked(self.env):
            state = self.converge(self.store.load(self.env))
            decide(state)
            if state.phase not in ("paused", "progressing") or state.canary is None:
                raise NothingToDo(
                    f"environment {self.env!r} has no rollout to promote ({state.phase})"
                )
            steps = self.settings.canary.steps if state.strategy == "canary" else ()
            skipped = [s.weight for s in steps[state.step :]]
            note = {
                "version": state.canary.revision,
                "step": state.step,
                "weight": state.weight,
                "started": time.time(),
                "ended": time.time(),
                "outcome": "skipped",
                "reason": f"{reason}; skipped weights {skipped}",
                "skipped_weights": skipped,
            }
            state = self.store.save(state.evolve(measurements=(*state.measurements, note)))
            if self.delegates:  # Argo skips its steps; we follow
                from lockgate.delivery.rollout.argo import ask, promote_full_patch

                ask(self.target, promote_full_patch)
                return self._continue(state)
            passed = [m for m in state.measurements if m.get("outcome") == "pass"]
            reference = passed[-1].get("predictions") if passed else None
            candidate = state.canary
            change = self.promote(state, reference or state.reference)
            state = self.store.save(self.store.load(self.env).evolve(reason=note["reason"]))
            self.log(f"{self.env}: {note['reason']}")
            return self._result(
                state,
                "completed",
                str(note["reason"]),
                candidate=candidate,
                extra={"promoted": change},
            )

    def retry(self, decide: Decide = _anyone) -> RolloutResult:
        """Roll the aborted candidate out again from the first step, as a new revision."""
        state = self.store.load(self.env)
        if state.phase != "aborted" or state.canary is None:
            raise NothingToDo(
                f"environment {self.env!r} has no aborted rollout to retry ({state.phase})"
            )
        return self.start(state.canary.ref, dict(state.canary.env), decide)

    def abort(self, reason: str = "aborted by request", decide: Decide = _anyone) -> RolloutResult:
        """Abort a rollout in flight, or roll back to the previous version when none is."""
        with self.store.locked(self.env):
            state = self.converge(self.store.load(self.env))
            decide(state)
            if state.phase in ("progressing", "paused") and state.canary is not None:
                if self.delegates:  # Argo goes back to stable itself
                    from lockgate.delivery.rollout.argo import ABORT

                    self.target.patch_rollout(ABORT)  # type: ignore[attr-defined]  # Argo's
                state, change = self.abort_candidate(state, reason)
                return self._result(state, "aborted", reason, rollback=change)
            return self._rollback(state, reason)

    def rollback(self, reason: str) -> RolloutResult:
        with self.store.locked(self.env):
            return self._rollback(self.converge(self.store.load(self.env)), reason)

    # -- primitives ---------------------------------------------------------------------------
    def converge(self, state: RolloutState) -> RolloutState:
        """Make the environment match ``state``: running versions, routing, nothing else."""
        if state.warm is not None and state.warm_until <= time.time():
            state = self.store.save(state.evolve(warm=None, warm_until=0.0))
        keep = state.running_versions()
        # the Argo router applies one Rollout naming one image: only the one it must run, or
        # Argo would see the template go back to stable for a moment and end the canary
        wanted = keep[-1:] if self.delegates else keep
        for version in wanted:
            self.target.start(version)
        if state.stable is not None:
            self.target.route(state.weights())
        self.target.sweep(keep)
        return state

    def promote(
        self, state: RolloutState, reference: Mapping[str, float], warm_s: float = 0.0
    ) -> RouteChange:
        """The candidate becomes stable at 100%; the old stable is stopped or kept warm."""
        assert state.canary is not None
        old = state.stable
        keep_warm = old is not None and warm_s > 0
        state = self.store.save(
            state.evolve(
                phase="completed",
                previous=old,
                stable=state.canary,
                canary=None,
                weight=0,
                reference=dict(reference),
                warm=old if keep_warm else None,
                warm_until=time.time() + warm_s if keep_warm else 0.0,
            )
        )
        change = self.target.route(state.weights())
        if old is not None and not keep_warm:
            self.sleep(self.settings.docker.drain_s)
            self.target.stop(old)
        self.target.sweep(state.running_versions())
        return change

    def abort_candidate(self, state: RolloutState, reason: str) -> tuple[RolloutState, RouteChange]:
        """Stable back to 100% first, then the candidate is drained and stopped."""
        state = self.store.save(state.evolve(phase="aborted", weight=0, reason=reason))
        change = self.target.route(state.weights())
        if state.canary is not None:
            self.sleep(self.settings.docker.drain_s)
            self.target.stop(state.canary)
        self.target.sweep(state.running_versions())
        self.log(f"{self.env}: aborted: {reason}")
        return state, change

    def _rollback(self, state: RolloutState, reason: str) -> RolloutResult:
        back = state.previous
        if back is None or state.stable is None:
            raise NothingToDo(f"environment {self.env!r} has no previous version to roll back to")
        bad = state.stable
        self.target.start(back)  # instant when kept warm
        state = self.store.save(
            state.evolve(
                phase="completed",
                stable=back,
                previous=None,
                canary=None,
                weight=0,
                warm=None,
                warm_until=0.0,
                reason=reason,
            )
        )
        change = self.target.route(state.weights())
        self.sleep(self.settings.docker.drain_s)
        self.target.stop(bad)
        self.target.sweep(state.running_versions())
        self.log(f"{self.env}: rolled back from {bad.ref} to {back.ref}: {reason}")
        return self._result(state, "rolled-back", reason, candidate=bad, rollback=change)

    def _first_deploy(self, state: RolloutState, version: Version) -> RolloutResult:
        state = self.store.save(
            state.evolve(phase="completed", stable=version, canary=None, weight=0, reason="")
        )
        self.converge(state)
        return self._result(state, "deployed", "first version: nothing to compare with")

    @property
    def delegates(self) -> bool:
        """True when Argo Rollouts runs the steps (the kubernetes target's argo router)."""
        return bool(getattr(self.target, "delegates", False))

    def _continue(self, state: RolloutState) -> RolloutResult:
        if self.delegates:  # the argo-rollouts router
            from lockgate.delivery.rollout.argo import run_argo

            return run_argo(self, state)
        return strategy(state.strategy)(self, state)

    def _result(self, state: RolloutState, status: Status, reason: str, **kw: Any) -> RolloutResult:
        return RolloutResult(
            env=self.env,
            status=status,
            stable=state.stable,
            candidate=kw.pop("candidate", state.canary),
            reason=reason,
            measurements=state.measurements,
            **kw,
        )
