"""A recorded Kubernetes API server for the Kubernetes target's tests: a loopback HTTP server
that answers like the API server (server-side apply, merge patches, GET, DELETE) and records
every request. No cluster can run where the tests run; the controllers' side (Argo's Rollout
status, a Deployment's readiness) is scripted by the test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from typing import Any

from tests.jsonhttp import JsonHandler

ROLLOUT = "/apis/argoproj.io/v1alpha1/namespaces/ml/rollouts/model"
TOKEN = "s3cr3t-token-value"


class ApiServer:
    """Records every request. Keeps what was applied (a changed Rollout spec bumps
    ``metadata.generation``, as the API server does) and answers GETs of the Rollout with that
    spec and the next of ``statuses`` (the controller's side, scripted). A status names the
    generation it describes (``observedGeneration``); by default the current one."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.objects: dict[str, dict[str, Any]] = {}
        self.generation = 0
        self.ready: list[dict[str, Any]] = [{}]  # a Deployment's status, in turn
        self.runs: dict[str, dict[str, Any]] = {}  # AnalysisRuns by name, as Argo wrote them

    def answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        self.requests.append(
            {"method": method, "path": path, "headers": dict(headers), "body": body}
        )
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"kind": "Status", "message": "Unauthorized"}
        where = path.split("?")[0]
        if method == "PATCH" and headers.get("Content-Type") == "application/apply-patch+yaml":
            document = json.loads(body)
            if where == ROLLOUT and self.objects.get(where, {}).get("spec") != document["spec"]:
                self.generation += 1
            self.objects[where] = document
            return 200, document
        if method == "PATCH" and where in (ROLLOUT, ROLLOUT + "/status"):
            return 200, {"kind": "Rollout"}
        if method == "GET" and "/analysisruns/" in where:
            run = self.runs.get(where.rsplit("/", 1)[1])
            return (200, run) if run else (404, {"kind": "Status", "message": "not found"})
        if method == "DELETE":
            found = self.objects.pop(where, None)
            return (200, found) if found else (404, {"kind": "Status", "message": "not found"})
        if method == "GET" and where != ROLLOUT and where in self.objects:
            ready = self.ready.pop(0) if len(self.ready) > 1 else self.ready[0]
            return 200, {**self.objects[where], "status": ready}
        if method == "GET" and where == ROLLOUT:
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            status = {"observedGeneration": str(self.generation), **status}
            spec = self.objects.get(ROLLOUT, {}).get("spec", {})
            return 200, {
                "kind": "Rollout",
                "metadata": {"generation": self.generation},
                "spec": spec,
                "status": status,
            }
        return 404, {"kind": "Status", "message": f"{path} not found"}


@contextmanager
def serving() -> Iterator[tuple[ApiServer, str]]:
    recorded = ApiServer()

    class Handler(JsonHandler):
        def _serve(self) -> None:
            self.reply(*recorded.answer(self.command, self.path, self.headers, self.body()))

        do_GET = do_PATCH = do_DELETE = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    try:
        yield recorded, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
