"""The ``argo-rollouts`` router: lockgate hands the canary to Argo Rollouts and reads its
verdict back through the Kubernetes API.

``start`` applies the Rollout (the candidate's image, the steps of ``canary.steps``) and an
AnalysisTemplate whose metrics are Prometheus queries; Argo runs the steps and the analysis.
lockgate polls the Rollout's status: ``Healthy`` with the candidate's pods stable is a
completed rollout, ``Degraded`` or an abort is an aborted one (Argo has already gone back to
the stable version), ``Paused`` is a paused one (``kubectl argo rollouts promote``, or
``lockgate rollout resume``, which re-applies and goes on polling).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from lockgate.delivery.rollout.state import RolloutState

if TYPE_CHECKING:
    from lockgate.delivery.rollout.rollouts import RolloutResult, Rollouts


def verdict(status: dict[str, Any]) -> str:
    """``completed``, ``aborted``, ``paused`` or ``progressing`` from a Rollout's status."""
    phase = status.get("phase")
    if status.get("abort") or phase == "Degraded":
        return "aborted"
    if phase == "Paused":
        return "paused"
    stable, current = status.get("stableRS"), status.get("currentPodHash")
    if phase == "Healthy" and stable and stable == current:
        return "completed"
    return "progressing"


def run_argo(ctl: Rollouts, state: RolloutState) -> RolloutResult:
    assert state.canary is not None
    target: Any = ctl.target  # a KubernetesTarget with the argo-rollouts router
    target.start(state.canary)  # the Rollout now names the candidate's image
    settings = ctl.settings.kubernetes
    deadline = time.monotonic() + settings.argo_timeout_s
    seen: tuple[Any, ...] = ()
    while True:
        status = target.rollout_status()
        now = verdict(status)
        key = (now, status.get("currentStepIndex"), status.get("message"))
        if key != seen:
            seen = key
            note = {
                "version": state.canary.name,
                "step": int(status.get("currentStepIndex") or 0),
                "weight": int(
                    (status.get("canary") or {})
                    .get("weights", {})
                    .get("canary", {})
                    .get("weight", 0)
                    or 0
                ),
                "started": time.time(),
                "ended": time.time(),
                "outcome": {"completed": "pass", "aborted": "fail"}.get(now, "inconclusive"),
                "reason": f"Argo Rollouts: {status.get('phase')}: {status.get('message') or '-'}",
            }
            state = ctl.store.save(state.evolve(measurements=(*state.measurements, note)))
            ctl.log(f"{ctl.env}: {note['reason']}")
        if now == "completed":
            candidate = state.canary
            ctl.store.save(
                state.evolve(
                    phase="completed",
                    previous=state.stable,
                    stable=state.canary,
                    canary=None,
                    weight=0,
                    reason="Argo Rollouts: healthy",
                )
            )
            return ctl._result(
                ctl.store.load(ctl.env), "completed", "Argo Rollouts: healthy", candidate=candidate
            )
        if now in ("aborted", "paused"):
            reason = f"Argo Rollouts: {status.get('phase')}: {status.get('message') or '-'}"
            state = ctl.store.save(state.evolve(phase=now, reason=reason))
            return ctl._result(state, now, reason)  # type: ignore[arg-type]  # a Status
        if time.monotonic() > deadline:
            reason = f"Argo Rollouts still progressing after {settings.argo_timeout_s:g} s"
            state = ctl.store.save(state.evolve(phase="paused", reason=reason))
            return ctl._result(state, "paused", reason)
        ctl.sleep(settings.argo_poll_s)
