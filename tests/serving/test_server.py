"""The scoring server in-process (real sockets on loopback), and its process lifecycle."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lockgate.serving.manifest import ModelLoadError
from lockgate.serving.metrics import ServingMetrics, parse_exposition
from lockgate.serving.model import load_predictor
from lockgate.serving.server import ScoringServer
from tests.serving.bundles import python_bundle

REPO_ROOT = Path(__file__).resolve().parents[2]


def call(port: int, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = (
            None
            if body is None
            else (body if isinstance(body, bytes) else json.dumps(body).encode())
        )
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def scrape(port: int) -> dict:
    status, body = call(port, "GET", "/metrics")
    assert status == 200
    return parse_exposition(body.decode())


@pytest.fixture
def server(tmp_path):
    predictor = load_predictor(python_bundle(tmp_path / "bundle"))
    srv = ScoringServer(("127.0.0.1", 0), predictor, ServingMetrics())
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def test_ping_and_scoring_routes(server):
    port = server.server_address[1]
    assert call(port, "GET", "/ping") == (200, b'{"status":"ok"}')
    for path in ("/invocations", "/predict"):
        status, body = call(port, "POST", path, {"inputs": [[1, 1], [0, 0.5], [2, 0]]})
        assert status == 200
        assert json.loads(body) == {"predictions": ["yes", "no", "yes"]}
    assert call(port, "GET", "/nope")[0] == 404
    assert call(port, "POST", "/nope", {"inputs": [[1, 1]]})[0] == 404


def test_metrics_count_requests_errors_latency_and_labels(server):
    port = server.server_address[1]
    call(port, "POST", "/invocations", {"inputs": [[1, 1], [0, 0]]})
    call(port, "POST", "/predict", {"inputs": [[3, 3]]})
    assert call(port, "POST", "/invocations", {"inputs": [[1, 2, 3]]})[0] == 400
    assert call(port, "POST", "/invocations", b"{not json")[0] == 400
    assert call(port, "POST", "/invocations", {"inputs": [[13, 0]]})[0] == 500
    m = scrape(port)
    assert m[("lockgate_requests_total", (("code", "200"),))] == 2
    assert m[("lockgate_requests_total", (("code", "400"),))] == 2
    assert m[("lockgate_requests_total", (("code", "500"),))] == 1
    assert m[("lockgate_request_errors_total", (("kind", "bad_request"),))] == 2
    assert m[("lockgate_request_errors_total", (("kind", "model_error"),))] == 1
    assert m[("lockgate_predictions_total", (("label", "yes"),))] == 2
    assert m[("lockgate_predictions_total", (("label", "no"),))] == 1
    assert m[("lockgate_rows_total", ())] == 3
    assert m[("lockgate_request_duration_seconds_count", ())] == 5
    assert m[("lockgate_request_duration_seconds_bucket", (("le", "+Inf"),))] == 5
    buckets = sorted(
        (float(dict(k[1])["le"]), v)
        for k, v in m.items()
        if k[0] == "lockgate_request_duration_seconds_bucket"
    )
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "histogram buckets must be cumulative"
    assert m[("lockgate_request_duration_seconds_sum", ())] > 0
    info = [k for k in m if k[0] == "lockgate_model_info"]
    assert dict(info[0][1]) == {
        "flavor": "python",
        "name": "rule",
        "run_id": "run-123",
        "version": "1",
    }
    assert m[("lockgate_in_flight_requests", ())] == 0


def test_keep_alive_connection_serves_many_requests(server):
    port = server.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for _ in range(20):
        conn.request("POST", "/invocations", body=b'{"inputs": [[1, 1]]}')
        response = conn.getresponse()
        assert response.status == 200 and response.read() == b'{"predictions": ["yes"]}'
    conn.close()
    assert scrape(port)[("lockgate_requests_total", (("code", "200"),))] == 20


def test_bad_manifest_names_the_file(tmp_path):
    bundle = python_bundle(tmp_path / "b")
    (bundle / "serving.json").write_text('{"entrypoint": "x:y"}')
    with pytest.raises(ModelLoadError, match=r"serving.json: field 'flavor' is missing"):
        load_predictor(bundle)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_finishes_in_flight_requests_then_exits(tmp_path):
    bundle = python_bundle(tmp_path / "slow", delay=1.5)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lockgate.serving",
            "--model",
            str(bundle),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if call(port, "GET", "/ping")[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        results: list[tuple[int, bytes]] = []
        inflight = threading.Thread(
            target=lambda: results.append(call(port, "POST", "/invocations", {"inputs": [[1, 1]]}))
        )
        inflight.start()
        time.sleep(0.4)  # the request is now inside the model
        proc.send_signal(signal.SIGTERM)
        inflight.join(10)
        assert results == [(200, b'{"predictions": ["yes"]}')]
        assert proc.wait(10) == 0
        assert "stopped" in (tmp_path / "server.log").read_text()
        with pytest.raises(OSError):
            call(port, "GET", "/ping")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
