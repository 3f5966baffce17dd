"""The ``argo-rollouts`` router: lockgate hands the canary to Argo Rollouts and reads its
verdict back through the Kubernetes API.

``start`` applies the Rollout (the candidate's image, the steps of ``canary.steps``) and an
AnalysisTemplate whose metrics are Prometheus queries; Argo runs the steps and the analysis.
lockgate polls the Rollout and judges it as Argo's own client does: a status written for an
older generation of the spec, or a pause or abort lockgate has just lifted but the controller
has not yet taken up, is still progressing; ``Healthy`` with the candidate's pods stable is
completed; an abort (``status.abort``) or ``Degraded`` is aborted (Argo has already gone back to
the stable version); ``Paused`` is paused, except a timed pause step, which Argo ends itself.

Resume, promote in full, abort and retry send the merge patches ``kubectl argo rollouts``
sends (``promote``, ``promote --full``, ``abort``, ``retry rollout``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lockgate.delivery.rollout.state import RolloutState

if TYPE_CHECKING:
    from lockgate.delivery.rollout.rollouts import RolloutResult, Rollouts

TIMED_PAUSE = "CanaryPauseStep"


def _steps(rollout: dict[str, Any]) -> list[dict[str, Any]]:
    canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    return list(canary.get("steps") or [])


def _generation_observed(rollout: dict[str, Any]) -> bool:
    observed = (rollout.get("status") or {}).get("observedGeneration")
    generation = (rollout.get("metadata") or {}).get("generation")
    try:
        return generation is None or int(str(observed)) >= int(generation)
    except (TypeError, ValueError):  # absent, or an old controller's hash: nothing to compare
        return True


def verdict(rollout: dict[str, Any]) -> str:
    """``completed``, ``aborted``, ``paused`` or ``progressing`` from a whole Rollout object."""
    status = rollout.get("status") or {}
    phase = status.get("phase")
    if not _generation_observed(rollout):
        return "progressing"  # the status still describes the spec before ours
    if status.get("abort"):
        return "aborted"
    if phase == "Degraded":  # an abort lifted by a retry shows until the controller sees it
        return "progressing" if status.get("abortedAt") else "aborted"
    stable, current = status.get("stableRS"), status.get("currentPodHash")
    if phase == "Healthy" and stable and stable == current:
        return "completed"
    pauses = status.get("pauseConditions") or []
    if (status.get("controllerPause") and not pauses) or status.get("promoteFull"):
        return "progressing"  # a resume or a full promotion not yet taken up
    if phase != "Paused":
        return "progressing"
    if (rollout.get("spec") or {}).get("paused"):
        return "paused"
    if any(p.get("reason") != TIMED_PAUSE for p in pauses):
        return "paused"  # e.g. InconclusiveAnalysisRun
    steps, index = _steps(rollout), status.get("currentStepIndex")
    step = steps[index] if isinstance(index, int) and 0 <= index < len(steps) else {}
    if (step.get("pause") or {}).get("duration"):
        return "progressing"  # a timed pause: Argo goes on by itself
    return "paused"


def resume_patch(rollout: dict[str, Any]) -> dict[str, Any]:
    """What ``kubectl argo rollouts promote`` sends: unpause a manual pause, clear the pause
    conditions; after an inconclusive step analysis also move past that step."""
    spec, status = rollout.get("spec") or {}, rollout.get("status") or {}
    patch: dict[str, Any] = {}
    if spec.get("paused"):
        patch["spec"] = {"paused": False}
    pauses = status.get("pauseConditions") or []
    analysis = (status.get("canary") or {}).get("currentStepAnalysisRunStatus") or {}
    index = status.get("currentStepIndex")
    if (
        analysis.get("status") == "Inconclusive"
        and pauses
        and status.get("controllerPause")
        and isinstance(index, int)
    ):
        patch["status"] = {
            "pauseConditions": None,
            "controllerPause": False,
            "currentStepIndex": min(index + 1, len(_steps(rollout))),
        }
    elif pauses:
        patch["status"] = {"pauseConditions": None}
    return patch


def promote_full_patch(rollout: dict[str, Any]) -> dict[str, Any]:
    """What ``kubectl argo rollouts promote --full`` sends."""
    spec, status = rollout.get("spec") or {}, rollout.get("status") or {}
    patch: dict[str, Any] = {}
    if spec.get("paused"):
        patch["spec"] = {"paused": False}
    if status.get("currentPodHash") != status.get("stableRS"):
        patch["status"] = {"promoteFull": True}
    return patch


def ask(target: Any, patch_for: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Read the Rollout, and send the patch ``patch_for`` makes of it (if any)."""
    patch = patch_for(target.rollout_object())
    if patch:
        target.patch_rollout(patch)


ABORT = {"status": {"abort": True}}  # kubectl argo rollouts abort
RETRY = {"status": {"abort": False}}  # kubectl argo rollouts retry rollout


def _outcome(now: str, status: dict[str, Any]) -> str:
    """The record's outcome for one status seen: Argo's verdict, else its step analysis."""
    if now in ("completed", "aborted"):
        return "pass" if now == "completed" else "fail"
    analysis = (status.get("canary") or {}).get("currentStepAnalysisRunStatus") or {}
    found = {"Successful": "pass", "Failed": "fail", "Error": "fail"}
    return found.get(str(analysis.get("status")), "inconclusive" if now == "paused" else "running")


def observe(ctl: Rollouts, state: RolloutState) -> tuple[RolloutState, str, str]:
    """Read the Rollout once and bring the record up to date: a note when what Argo says
    changed, the phase when its verdict changed (a completed rollout makes the candidate
    stable). Returns the record, the verdict and its reason."""
    assert state.canary is not None
    rollout = ctl.target.rollout_object()  # type: ignore[attr-defined]  # the Argo router's
    status = rollout.get("status") or {}
    now = verdict(rollout)
    reason = f"Argo Rollouts: {status.get('phase')}: {status.get('message') or '-'}"
    weights = ((status.get("canary") or {}).get("weights") or {}).get("canary") or {}
    note = {
        "version": state.canary.name,
        "step": int(status.get("currentStepIndex") or 0),
        "weight": int(weights.get("weight") or 0),
        "started": time.time(),
        "ended": time.time(),
        "outcome": _outcome(now, status),
        "reason": reason,
    }
    analysis = (status.get("canary") or {}).get("currentStepAnalysisRunStatus") or {}
    if analysis.get("name"):  # the step's analysis: each metric's value and verdict
        from lockgate.delivery.rollout.argo_analysis import run_conditions

        settings = ctl.settings.analysis
        run = ctl.target.analysis_run(str(analysis["name"]))  # type: ignore[attr-defined]
        note["conditions"] = run_conditions(run, settings.parsed(), settings.min_requests)
    last = state.measurements[-1] if state.measurements else {}
    keys = ("version", "step", "outcome", "reason", "conditions")
    if any(last.get(key) != note.get(key) for key in keys):
        state = ctl.store.save(state.evolve(measurements=(*state.measurements, note)))
        ctl.log(f"{ctl.env}: {reason}")
    if now == "completed":
        reason = "Argo Rollouts: healthy"
        done = state.evolve(
            phase="completed",
            previous=state.stable,
            stable=state.canary,
            canary=None,
            weight=0,
            reason=reason,
        )
        return ctl.store.save(done), now, reason
    phase = now if now in ("aborted", "paused") else "progressing"
    if (state.phase, state.reason) != (phase, reason if phase != "progressing" else ""):
        state = ctl.store.save(
            state.evolve(phase=phase, reason=reason if phase != "progressing" else "")
        )
    return state, now, reason


def run_argo(ctl: Rollouts, state: RolloutState) -> RolloutResult:
    assert state.canary is not None
    target: Any = ctl.target  # a KubernetesTarget with the argo-rollouts router
    target.start(state.canary)  # the Rollout now names the candidate's image
    if (target.rollout_object().get("status") or {}).get("abort"):
        target.patch_rollout(RETRY)  # an abort left by an earlier run would hold this one back
    settings = ctl.settings.kubernetes
    deadline = time.monotonic() + settings.argo_timeout_s
    candidate = state.canary
    while True:
        state, now, reason = observe(ctl, state)
        if now == "completed":
            return ctl._result(state, "completed", reason, candidate=candidate)
        if now in ("aborted", "paused"):
            return ctl._result(state, now, reason)  # type: ignore[arg-type]  # a Status
        if time.monotonic() > deadline:
            reason = f"Argo Rollouts still progressing after {settings.argo_timeout_s:g} s"
            state = ctl.store.save(state.evolve(phase="paused", reason=reason))
            return ctl._result(state, "paused", reason)
        ctl.sleep(settings.argo_poll_s)
