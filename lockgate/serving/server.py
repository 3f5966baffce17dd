"""The scoring server: ``http.server`` with one thread per connection and HTTP/1.1 keep-alive.

Routes: ``GET /ping`` (200, or 503 while draining), ``POST /invocations`` and ``POST /predict``
(``{"inputs": [[...], ...]}`` -> ``{"predictions": [...]}``), ``GET /metrics`` (Prometheus text).
On :meth:`ScoringServer.drain` the server stops accepting connections, answers what is in
flight (with ``Connection: close``) and returns once nothing is in flight or the grace ends.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lockgate.serving.metrics import CONTENT_TYPE, ServingMetrics
from lockgate.serving.model import InputError, Predictor, validate_rows

MAX_BODY = 32 * 1024 * 1024
SCORING_PATHS = frozenset({"/invocations", "/predict"})


class ScoringServer(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not hold up the exit
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], predictor: Predictor, metrics: ServingMetrics
    ) -> None:
        super().__init__(address, ScoringHandler)
        self.predictor = predictor
        self.metrics = metrics
        self.draining = threading.Event()
        self._in_flight = 0
        self._idle = threading.Condition()
        m = predictor.manifest
        metrics.info.set(1, name=m.name, version=m.version, run_id=m.run_id, flavor=m.flavor)

    def enter(self) -> None:
        with self._idle:
            self._in_flight += 1
        self.metrics.in_flight.set(self._in_flight)

    def leave(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()
        self.metrics.in_flight.set(self._in_flight)

    def drain(self, grace_s: float) -> bool:
        """Stop accepting, wait for in-flight requests; True when all of them finished.
        Call from a thread other than the one in ``serve_forever``."""
        self.draining.set()
        self.shutdown()
        deadline = time.monotonic() + grace_s
        with self._idle:
            while self._in_flight and time.monotonic() < deadline:
                self._idle.wait(timeout=max(0.0, deadline - time.monotonic()))
            return self._in_flight == 0


class ScoringHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection is closed after this many seconds
    # headers and body leave in one send (flushed after each request), without Nagle's delay:
    # separate small writes meet the client's delayed ACK and cost ~40 ms per request
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: ScoringServer
    server_version = "lockgate-serving"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # access logs cost ~20% throughput
        return

    def do_GET(self) -> None:
        if self.path == "/ping":
            if self.server.draining.is_set():
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, b'{"status":"draining"}')
            else:
                self._send(HTTPStatus.OK, b'{"status":"ok"}')
        elif self.path == "/metrics":
            self._send(HTTPStatus.OK, self.server.metrics.render(), CONTENT_TYPE)
        else:
            self._send(HTTPStatus.NOT_FOUND, b'{"error":"not found"}')

    def do_POST(self) -> None:
        if self.path not in SCORING_PATHS:
            self._discard_body()
            self._send(HTTPStatus.NOT_FOUND, b'{"error":"not found"}')
            return
        server = self.server
        server.enter()
        started = time.perf_counter()
        status = HTTPStatus.INTERNAL_SERVER_ERROR
        try:
            status, body = self._score()
            self._send(status, body)
        finally:
            metrics = server.metrics
            metrics.requests.inc(code=str(int(status)))
            metrics.latency.observe(time.perf_counter() - started)
            server.leave()

    def _score(self) -> tuple[HTTPStatus, bytes]:
        metrics = self.server.metrics
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.close_connection = True
                raise InputError(f"body larger than {MAX_BODY} bytes")
            payload = json.loads(self.rfile.read(length) or b"null")
            if not isinstance(payload, dict):
                raise InputError('expected a JSON object {"inputs": [[...], ...]}')
            rows = payload.get("inputs", payload.get("instances"))
            manifest = self.server.predictor.manifest
            rows = validate_rows(rows, manifest.n_features)
        except (InputError, ValueError) as exc:
            metrics.errors.inc(kind="bad_request")
            return HTTPStatus.BAD_REQUEST, _error(str(exc))
        try:
            predictions = self.server.predictor.predict(rows)
            body = json.dumps({"predictions": predictions}).encode()
        except Exception as exc:  # the model's own failure: answer 500, keep serving
            metrics.errors.inc(kind="model_error")
            print(f"lockgate-serving: model error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return HTTPStatus.INTERNAL_SERVER_ERROR, _error(f"model error: {type(exc).__name__}")
        metrics.rows.inc(len(rows))
        if manifest.n_classes > 0 or manifest.labels:
            for p in predictions:
                metrics.predictions.inc(label=str(p))
        else:
            for p in predictions:
                if isinstance(p, int | float):
                    metrics.values.observe(float(p))
        return HTTPStatus.OK, body

    def _discard_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if 0 < length <= MAX_BODY:
            self.rfile.read(length)
        elif length:
            self.close_connection = True

    def _send(self, status: HTTPStatus, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if self.server.draining.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()
