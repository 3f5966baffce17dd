"""The argo-rollouts router against a recorded API server: a loopback HTTP server that answers
like the Kubernetes API (server-side apply, GET of a Rollout with a scripted status sequence as
Argo Rollouts would write it). No cluster and no Argo controller can run here; this checks the
API calls lockgate makes, the manifests it sends (validated against the vendored schemas), and
how it reads Argo's verdict."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.delivery.config import EnvironmentDelivery
from lockgate.delivery.rollout.argo import verdict
from lockgate.delivery.rollout.rollouts import Rollouts
from lockgate.delivery.rollout.state import StateStore
from lockgate.delivery.rollout.targets.kube_api import KubernetesApiError
from lockgate.delivery.rollout.targets.kubernetes import KubernetesTarget
from tests.delivery.gatekit import SPEC
from tests.delivery.kube_api_kit import ROLLOUT, TOKEN, ApiServer, serving
from tests.delivery.people import Team
from tests.delivery.test_kubernetes import validate


@pytest.fixture
def api() -> Iterator[tuple[ApiServer, str]]:
    with serving() as served:
        yield served


def controller(tmp_path: Path, server: str) -> Rollouts:
    (tmp_path / "token").write_text(TOKEN + "\n")
    settings = EnvironmentDelivery.model_validate(
        {
            "target": "kubernetes",
            "kubernetes": {
                "namespace": "ml",
                "router": "argo-rollouts",
                "api_server": server,
                "token_file": str(tmp_path / "token"),
                "argo_poll_s": 0.01,
                "argo_timeout_s": 5,
            },
            # Argo steps: 0 setWeight 10, 1 pause 60s, 2 analysis, 3 setWeight 50,
            # 4 pause 30s (window_s), 5 analysis, 6 pause {} (manual: after its analysis)
            "canary": {
                "steps": [{"weight": 10, "pause": {"duration": 60}}, {"weight": 50, "pause": {}}]
            },
        }
    )
    store = StateStore(tmp_path / "state")
    return Rollouts("prod", settings, KubernetesTarget("prod", settings, store.folder), store)


def _applied(recorded: ApiServer) -> list[dict[str, Any]]:
    return [
        json.loads(r["body"])
        for r in recorded.requests
        if r["headers"].get("Content-Type") == "application/apply-patch+yaml"
    ]


def _merged(recorded: ApiServer) -> list[tuple[str, Any]]:
    """The merge patches sent, as (``object`` or ``status``, body)."""
    return [
        ("status" if r["path"].endswith("/status") else "object", json.loads(r["body"]))
        for r in recorded.requests
        if r["headers"].get("Content-Type") == "application/merge-patch+json"
    ]


HEALTHY = {"phase": "Healthy", "stableRS": "abc", "currentPodHash": "abc"}
KINDS = ["Rollout", "AnalysisTemplate", "Service", "Service", "Service", "HTTPRoute"]
TIMED = [{"reason": "CanaryPauseStep", "startTime": "2026-11-20T10:00:00Z"}]


def _deployed(tmp_path: Path, api: tuple[ApiServer, str]) -> tuple[ApiServer, Rollouts]:
    recorded, server = api
    rollouts = controller(tmp_path, server)
    recorded.statuses = [HEALTHY]
    assert rollouts.start("reg/model:1").status == "deployed"
    recorded.requests.clear()
    return recorded, rollouts


def test_candidate_is_handed_to_argo_and_its_healthy_verdict_completes(tmp_path, api) -> None:
    recorded, rollouts = _deployed(tmp_path, api)
    recorded.statuses = [
        {**HEALTHY, "observedGeneration": "1"},  # read once before polling (no abort to lift)
        # written for the spec before ours: its "Healthy" is the old version's, not a verdict
        {**HEALTHY, "observedGeneration": "1"},
        {"phase": "Progressing", "currentStepIndex": 0, "stableRS": "abc", "currentPodHash": "def"},
        # a timed pause step: Argo goes on by itself, so lockgate keeps watching
        {
            "phase": "Paused",
            "message": "CanaryPauseStep",
            "pauseConditions": TIMED,
            "controllerPause": True,
            "currentStepIndex": 1,
            "stableRS": "abc",
            "currentPodHash": "def",
            "canary": {"weights": {"canary": {"weight": 10}}},
        },
        {"phase": "Healthy", "stableRS": "def", "currentPodHash": "def"},
    ]
    result = rollouts.start("reg/model:2")
    assert result.status == "completed" and result.exit_code == 0
    # converging re-applies the stable version (unchanged for Argo), then the candidate
    applied = _applied(recorded)
    assert [d["kind"] for d in applied] == KINDS * 2
    assert applied[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "reg/model:1"
    for document in applied[6:]:
        validate(document)
    rollout = applied[6]
    assert rollout["spec"]["template"]["spec"]["containers"][0]["image"] == "reg/model:2"
    assert applied[7]["spec"]["metrics"][0]["provider"]["prometheus"]["query"]
    patch = [r for r in recorded.requests if r["method"] == "PATCH"][6]
    assert patch["path"] == ROLLOUT + "?fieldManager=lockgate&force=true"
    assert patch["headers"]["Content-Type"] == "application/apply-patch+yaml"
    gets = [r for r in recorded.requests if r["method"] == "GET"]
    assert len(gets) == 5 and all(r["path"] == ROLLOUT for r in gets)  # 1 before polling
    state = rollouts.store.load("prod")
    assert state.phase == "completed" and state.stable.ref == "reg/model:2"
    outcomes = [m["outcome"] for m in state.measurements]
    assert outcomes == ["running", "running", "running", "pass"]
    assert [m["weight"] for m in state.measurements][2] == 10
    # the token went to the API server only: not into the record or the manifests
    assert TOKEN not in rollouts.store.path("prod").read_text()
    assert all(TOKEN not in p.read_text() for p in (tmp_path / "state").rglob("*.json"))


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (
            {"phase": "Degraded", "abort": True, "message": "RolloutAborted: metric failed"},
            "aborted",
        ),
        ({"phase": "Degraded", "message": "ProgressDeadlineExceeded: timed out"}, "aborted"),
        (
            {
                "phase": "Paused",
                "message": "CanaryPauseStep",
                "pauseConditions": TIMED,
                "controllerPause": True,
                "currentStepIndex": 6,
            },
            "paused",
        ),
        (
            {
                "phase": "Paused",
                "message": "InconclusiveAnalysisRun",
                "pauseConditions": [{"reason": "InconclusiveAnalysisRun"}],
                "controllerPause": True,
                "currentStepIndex": 2,
            },
            "paused",
        ),
    ],
)
def test_argo_abort_and_pause_are_reported(tmp_path, api, status, outcome) -> None:
    recorded, rollouts = _deployed(tmp_path, api)
    recorded.statuses = [status]
    result = rollouts.start("reg/model:2")
    assert result.status == outcome and status["message"] in result.reason
    assert result.exit_code == (1 if outcome == "aborted" else 0)


def test_resume_promote_full_abort_and_retry_send_what_the_argo_plugin_sends(tmp_path, api) -> None:
    recorded, rollouts = _deployed(tmp_path, api)
    manual = {
        "phase": "Paused",
        "message": "CanaryPauseStep",
        "pauseConditions": TIMED,
        "controllerPause": True,
        "currentStepIndex": 6,
    }
    recorded.statuses = [manual]
    assert rollouts.start("reg/model:2").status == "paused"
    recorded.requests.clear()
    inconclusive = {
        "phase": "Paused",
        "message": "InconclusiveAnalysisRun",
        "pauseConditions": [{"reason": "InconclusiveAnalysisRun"}],
        "controllerPause": True,
        "currentStepIndex": 2,
        "canary": {"currentStepAnalysisRunStatus": {"status": "Inconclusive"}},
    }
    # resume reads the Rollout, asks; the pause it lifted shows until the controller sees it
    recorded.statuses = [manual, {"phase": "Paused", "controllerPause": True}, inconclusive]
    assert rollouts.resume().status == "paused"
    assert _merged(recorded) == [("status", {"status": {"pauseConditions": None}})]
    recorded.requests.clear()
    recorded.statuses = [inconclusive, inconclusive]
    assert rollouts.resume().status == "paused"  # past an inconclusive step: to the next one
    assert _merged(recorded) == [
        (
            "status",
            {"status": {"pauseConditions": None, "controllerPause": False, "currentStepIndex": 3}},
        )
    ]
    recorded.requests.clear()
    recorded.statuses = [
        {**manual, "stableRS": "abc", "currentPodHash": "def"},
        {**manual, "promoteFull": True},  # not yet taken up
        {"phase": "Healthy", "stableRS": "def", "currentPodHash": "def"},
    ]
    done = rollouts.promote_full("go now")
    assert done.status == "completed"
    assert _merged(recorded) == [("status", {"status": {"promoteFull": True}})]
    state = rollouts.store.load("prod")
    assert state.stable.ref == "reg/model:2"
    assert "skipped" in [m["outcome"] for m in state.measurements]
    # abort and retry
    recorded.statuses = [manual]
    assert rollouts.start("reg/model:3").status == "paused"
    recorded.requests.clear()
    assert rollouts.abort("bad feeling").status == "aborted"
    assert _merged(recorded) == [("status", {"status": {"abort": True}})]
    recorded.requests.clear()
    aborted = {"phase": "Degraded", "abort": True, "abortedAt": "2026-11-20T10:00:00Z"}
    recorded.statuses = [
        aborted,  # read once before polling: the abort must be lifted (what retry sends)
        {**aborted, "abort": False, "message": "RolloutAborted: ..."},  # not yet taken up
        {"phase": "Healthy", "stableRS": "ghi", "currentPodHash": "ghi"},
    ]
    retried = rollouts.retry()
    assert retried.status == "completed" and retried.stable.ref == "reg/model:3"
    assert ("status", {"status": {"abort": False}}) in _merged(recorded)


def test_refusals_name_the_call(tmp_path, api) -> None:
    _, server = api
    rollouts = controller(tmp_path, server)
    (tmp_path / "token").write_text("wrong")
    with pytest.raises(KubernetesApiError, match=r"PATCH /apis/argoproj.io/.*HTTP 401: Unauth"):
        rollouts.start("reg/model:1")


def test_verdicts() -> None:
    def of(status: dict[str, Any], **rollout: Any) -> str:
        return verdict({"status": status, **rollout})

    assert of({"phase": "Healthy", "stableRS": "a", "currentPodHash": "b"}) == "progressing"
    assert of({"phase": "Progressing", "abort": True}) == "aborted"
    old = {"phase": "Healthy", "stableRS": "a", "currentPodHash": "a", "observedGeneration": "3"}
    assert of(old, metadata={"generation": 4}) == "progressing"
    assert of(old, metadata={"generation": 3}) == "completed"
    assert of({"phase": "Paused"}, spec={"paused": True}) == "paused"  # paused by hand


def test_status_watch_reads_the_live_rollout_through_the_api(
    tmp_path, api, monkeypatch, capsys
) -> None:
    """``lockgate rollout status --watch`` with the Argo router, through the real entry point:
    the rollout paused when ``start`` stopped watching; Argo goes on (here: someone promoted
    it with Argo's own client), and the watch reads that back and records it. The starts are
    proven with a key the spec's allowed-signers file lists (the project keeps its rollout
    settings in the older delivery.yaml beside the spec)."""
    from lockgate.__main__ import main
    from lockgate.commands import rollout as rollout_command

    recorded, server = api
    team = Team(tmp_path, {"sre": ()})
    listed = f"policy:\n  allowed_signers: {team.allowed_signers.name}\n"
    head = SPEC.split("environments:")[0]
    (tmp_path / "lockgate.yaml").write_text(f"{head}environments:\n  - {{name: prod}}\n{listed}")
    monkeypatch.setenv("LOCKGATE_IDENTITY_KEY", str(team.key("sre")))
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "delivery.yaml").write_text(
        "environments:\n"
        "  prod:\n"
        "    target: kubernetes\n"
        "    kubernetes:\n"
        f"      {{namespace: ml, router: argo-rollouts, api_server: '{server}',\n"
        f"       token_file: '{tmp_path / 'token'}', argo_poll_s: 0.01, argo_timeout_s: 5}}\n"
        "    canary: {steps: [{weight: 10, pause: {}}]}\n"
    )
    monkeypatch.chdir(tmp_path)
    recorded.statuses = [HEALTHY]
    assert main(["rollout", "start", "prod", "--ref", "reg/model:1"]) == 0
    manual = {"phase": "Paused", "message": "CanaryPauseStep", "pauseConditions": TIMED}
    recorded.statuses = [manual]
    assert main(["rollout", "start", "prod", "--ref", "reg/model:2"]) == 0
    capsys.readouterr()
    recorded.statuses = [
        {
            "phase": "Progressing",
            "currentStepIndex": 3,
            "canary": {"weights": {"canary": {"weight": 10}}},
        },
        {"phase": "Progressing", "currentStepIndex": 3},  # unchanged: nothing printed
        {"phase": "Healthy", "stableRS": "def", "currentPodHash": "def"},
    ]
    monkeypatch.setattr(rollout_command, "pause", lambda seconds: None)
    assert main(["rollout", "status", "prod", "--watch", "--interval", "0.01", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["phase"] for r in lines] == ["progressing", "completed"]
    assert lines[-1]["stable"]["ref"] == "reg/model:2"
    state = StateStore(tmp_path / ".lockgate" / "state" / "delivery").load("prod")
    assert state.phase == "completed" and state.measurements[-1]["outcome"] == "pass"
    ledger = (tmp_path / ".lockgate" / "ledger" / "ledger.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in ledger]
    assert [(e["actor"], e["details"]["op"], e["details"].get("outcome")) for e in entries] == [
        ("sre", "rollout start", None),
        ("sre", "rollout start", None),
        ("lockgate", "analysis", "paused"),  # Argo paused it at the manual step
    ]


def test_a_step_analysis_is_read_back_and_charted_on_the_release_page(tmp_path, api) -> None:
    """Argo's AnalysisRun for a step, read through the API, lands in the record as conditions
    with values, and the release page draws that step's chart from it."""
    from lockgate.ui.overview import build, load_rollouts
    from lockgate.ui.page import render_overview

    recorded, rollouts = _deployed(tmp_path, api)
    recorded.runs["model-def-2-2"] = {
        "kind": "AnalysisRun",
        "status": {
            "phase": "Failed",
            "metricResults": [
                {
                    "name": "requests",
                    "phase": "Successful",
                    "measurements": [{"phase": "Successful", "value": "[40]"}],
                },
                {
                    "name": "error-rate",
                    "phase": "Failed",
                    "measurements": [{"phase": "Failed", "value": "[0.3]"}],
                },
                {
                    "name": "p95-ms",
                    "phase": "Successful",
                    "measurements": [{"phase": "Successful", "value": "[42.5]"}],
                },
            ],
        },
    }
    analysed = {"currentStepAnalysisRunStatus": {"name": "model-def-2-2", "status": "Failed"}}
    recorded.statuses = [
        {"phase": "Progressing", "currentStepIndex": 2, "canary": analysed},
        {
            "phase": "Degraded",
            "abort": True,
            "message": "RolloutAborted: metric error-rate failed",
            "currentStepIndex": 2,
            "canary": analysed,
        },
    ]
    assert rollouts.start("reg/model:2").status == "aborted"
    record = rollouts.store.load("prod")
    judged = record.measurements[-1]["conditions"]
    assert [(c["condition"], c["observed"], c["outcome"]) for c in judged] == [
        ("requests >= 20", 40.0, "pass"),
        ("error_rate < 0.01", 0.3, "fail"),
        ("p95_ms < 200", 42.5, "pass"),
    ]
    page = render_overview(build([], load_rollouts(rollouts.store.folder)))
    assert 'class="step-chart" data-step="2"' in page and "error_rate &lt; 0.01" in page
    assert "<title>0.3</title>" in page  # the bar of the failing metric, its value on hover
