"""The argo-rollouts router against a recorded API server: a loopback HTTP server that answers
like the Kubernetes API (server-side apply, GET of a Rollout with a scripted status sequence as
Argo Rollouts would write it). No cluster and no Argo controller can run here; this checks the
API calls lockgate makes, the manifests it sends (validated against the vendored schemas), and
how it reads Argo's verdict."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lockgate.delivery.config import EnvironmentDelivery
from lockgate.delivery.rollout.argo import verdict
from lockgate.delivery.rollout.rollouts import Rollouts
from lockgate.delivery.rollout.state import StateStore
from lockgate.delivery.rollout.targets.kube_api import KubernetesApiError
from lockgate.delivery.rollout.targets.kubernetes import KubernetesTarget
from tests.delivery.test_kubernetes import validate

ROLLOUT = "/apis/argoproj.io/v1alpha1/namespaces/ml/rollouts/model"
TOKEN = "s3cr3t-token-value"


class ApiServer:
    """Records every request; answers GETs of the Rollout from ``statuses`` in turn."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []

    def answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        self.requests.append(
            {"method": method, "path": path, "headers": dict(headers), "body": body}
        )
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"kind": "Status", "message": "Unauthorized"}
        if method == "PATCH":
            document = json.loads(body)
            return 200, document
        if method == "GET" and path == ROLLOUT:
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return 200, {"kind": "Rollout", "status": status}
        return 404, {"kind": "Status", "message": f"{path} not found"}


@pytest.fixture
def api() -> Iterator[tuple[ApiServer, str]]:
    recorded = ApiServer()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            code, body = recorded.answer(
                self.command, self.path, self.headers, self.rfile.read(length)
            )
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = _serve

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield recorded, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


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
            "canary": {"steps": [{"weight": 10, "pause": {"duration": 60}}, {"weight": 50}]},
        }
    )
    store = StateStore(tmp_path / "state")
    return Rollouts("prod", settings, KubernetesTarget("prod", settings, store.folder), store)


def _applied(recorded: ApiServer) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in recorded.requests if r["method"] == "PATCH"]


HEALTHY = {"phase": "Healthy", "stableRS": "abc", "currentPodHash": "abc"}


def test_candidate_is_handed_to_argo_and_its_healthy_verdict_completes(tmp_path, api) -> None:
    recorded, server = api
    rollouts = controller(tmp_path, server)
    recorded.statuses = [HEALTHY]
    assert rollouts.start("reg/model:1").status == "deployed"
    first = _applied(recorded)
    assert [d["kind"] for d in first] == ["Rollout", "AnalysisTemplate", "Service"]
    recorded.requests.clear()
    recorded.statuses = [
        {"phase": "Progressing", "currentStepIndex": 0, "stableRS": "abc", "currentPodHash": "def"},
        {"phase": "Progressing", "currentStepIndex": 1, "stableRS": "abc", "currentPodHash": "def"},
        {"phase": "Healthy", "stableRS": "def", "currentPodHash": "def"},
    ]
    result = rollouts.start("reg/model:2")
    assert result.status == "completed" and result.exit_code == 0
    # converging re-applies the stable version first (a no-op for Argo), then the candidate
    applied = _applied(recorded)
    assert [d["kind"] for d in applied] == ["Rollout", "AnalysisTemplate", "Service"] * 2
    assert applied[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "reg/model:1"
    rollout, template, service = applied[3:]
    for document in (rollout, template, service):
        validate(document)
    assert rollout["spec"]["template"]["spec"]["containers"][0]["image"] == "reg/model:2"
    assert template["spec"]["metrics"][0]["provider"]["prometheus"]["query"]
    patch = [r for r in recorded.requests if r["method"] == "PATCH"][3]
    assert patch["path"] == ROLLOUT + "?fieldManager=lockgate&force=true"
    assert patch["headers"]["Content-Type"] == "application/apply-patch+yaml"
    gets = [r for r in recorded.requests if r["method"] == "GET"]
    assert len(gets) == 3 and all(r["path"] == ROLLOUT for r in gets)
    state = rollouts.store.load("prod")
    assert state.phase == "completed" and state.stable.ref == "reg/model:2"
    assert [m["outcome"] for m in state.measurements] == ["inconclusive", "inconclusive", "pass"]
    # the token went to the API server only: not into the record or the manifests
    assert TOKEN not in rollouts.store.path("prod").read_text()
    assert all(TOKEN not in p.read_text() for p in (tmp_path / "state").rglob("*.json"))


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ({"phase": "Degraded", "message": "RolloutAborted: metric error-rate failed"}, "aborted"),
        ({"phase": "Paused", "message": "CanaryPauseStep"}, "paused"),
    ],
)
def test_argo_abort_and_pause_are_reported(tmp_path, api, status, outcome) -> None:
    recorded, server = api
    rollouts = controller(tmp_path, server)
    recorded.statuses = [HEALTHY]
    rollouts.start("reg/model:1")
    recorded.statuses = [status]
    result = rollouts.start("reg/model:2")
    assert result.status == outcome and status["message"] in result.reason
    assert result.exit_code == (1 if outcome == "aborted" else 0)


def test_resume_and_promote_full_ask_argo_through_the_status_subresource(tmp_path, api) -> None:
    recorded, server = api
    rollouts = controller(tmp_path, server)
    recorded.statuses = [HEALTHY]
    rollouts.start("reg/model:1")
    recorded.statuses = [{"phase": "Paused", "message": "CanaryPauseStep"}]
    assert rollouts.start("reg/model:2").status == "paused"
    recorded.requests.clear()
    recorded.statuses = [{"phase": "Paused", "message": "CanaryPauseStep"}]
    assert rollouts.resume().status == "paused"  # Argo paused again at its next manual step
    unpause = [r for r in recorded.requests if r["path"].endswith("/status")]
    assert [json.loads(r["body"]) for r in unpause] == [{"status": {"pauseConditions": None}}]
    recorded.requests.clear()
    recorded.statuses = [{"phase": "Healthy", "stableRS": "def", "currentPodHash": "def"}]
    done = rollouts.promote_full("go now")
    assert done.status == "completed"
    status_patches = [r for r in recorded.requests if r["path"].endswith("/status")]
    assert [json.loads(r["body"]) for r in status_patches] == [{"status": {"promoteFull": True}}]
    assert status_patches[0]["headers"]["Content-Type"] == "application/merge-patch+json"
    state = rollouts.store.load("prod")
    assert state.stable.ref == "reg/model:2"
    assert "skipped" in [m["outcome"] for m in state.measurements]


def test_refusals_name_the_call(tmp_path, api) -> None:
    _, server = api
    rollouts = controller(tmp_path, server)
    (tmp_path / "token").write_text("wrong")
    with pytest.raises(KubernetesApiError, match=r"PATCH /apis/argoproj.io/.*HTTP 401: Unauth"):
        rollouts.start("reg/model:1")


def test_verdicts() -> None:
    assert verdict({"phase": "Healthy", "stableRS": "a", "currentPodHash": "b"}) == "progressing"
    assert verdict({"phase": "Progressing", "abort": True}) == "aborted"
