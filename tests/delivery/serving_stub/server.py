"""A stand-in model server for the delivery tests, speaking the serving image's HTTP API.

The real serving image comes from the package stage; this stub exists so the delivery tests can
make a good, an erroring, a slow and a drifting candidate on demand. It implements exactly the
serving API: ``GET /ping``, ``POST /invocations`` (``{"inputs": [[...]]}`` ->
``{"predictions": [...]}``) and Prometheus text on ``GET /metrics`` with
``lockgate_requests_total{code}``, ``lockgate_request_duration_seconds`` (histogram) and
``lockgate_predictions_total{label}``. It listens on 8080 and runs as a non-root user.

Behaviour comes from environment variables:
    ERROR_RATE        fraction of /invocations answered 500 (default 0)
    ERROR_AFTER       answer normally for this many invocations before ERROR_RATE applies (0)
    EXTRA_LATENCY_MS  added to every /invocations answer (0)
    PREDICTION_SHIFT  added to each row's mean before labelling: shifts the label mix (0)
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LABELS = ("low", "mid", "high")

ERROR_RATE = float(os.environ.get("ERROR_RATE", "0"))
ERROR_AFTER = int(os.environ.get("ERROR_AFTER", "0"))
EXTRA_LATENCY = float(os.environ.get("EXTRA_LATENCY_MS", "0")) / 1000.0
SHIFT = float(os.environ.get("PREDICTION_SHIFT", "0"))


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: dict[str, int] = {}
        self.buckets = [0] * len(BUCKETS)
        self.count = 0
        self.total = 0.0
        self.labels = dict.fromkeys(LABELS, 0)
        self.invocations = 0
        self.rng = random.Random(7)

    def next_fails(self) -> bool:
        with self.lock:
            self.invocations += 1
            return self.invocations > ERROR_AFTER and self.rng.random() < ERROR_RATE

    def observe(self, code: int, seconds: float, labels: list[str]) -> None:
        with self.lock:
            self.codes[str(code)] = self.codes.get(str(code), 0) + 1
            self.count += 1
            self.total += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[i] += 1
            for label in labels:
                self.labels[label] += 1

    def text(self) -> str:
        with self.lock:
            lines = ["# TYPE lockgate_requests_total counter"]
            lines += [f'lockgate_requests_total{{code="{c}"}} {n}' for c, n in self.codes.items()]
            lines.append("# TYPE lockgate_request_duration_seconds histogram")
            for bound, n in zip(BUCKETS, self.buckets, strict=True):
                lines.append(f'lockgate_request_duration_seconds_bucket{{le="{bound}"}} {n}')
            lines.append(f'lockgate_request_duration_seconds_bucket{{le="+Inf"}} {self.count}')
            lines.append(f"lockgate_request_duration_seconds_sum {self.total}")
            lines.append(f"lockgate_request_duration_seconds_count {self.count}")
            lines.append("# TYPE lockgate_predictions_total counter")
            lines += [
                f'lockgate_predictions_total{{label="{k}"}} {v}' for k, v in self.labels.items()
            ]
            return "\n".join(lines) + "\n"


COUNTERS = Counters()


def predict(row: list[float]) -> str:
    mean = sum(row) / max(len(row), 1) + SHIFT
    return "low" if mean < -0.25 else "mid" if mean < 0.25 else "high"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, code: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/ping":
            self._send(200, b'{"status": "ok"}')
        elif self.path == "/metrics":
            self._send(200, COUNTERS.text().encode(), "text/plain; version=0.0.4")
        else:
            self._send(404, b'{"error": "not found"}')

    def do_POST(self) -> None:
        started = time.perf_counter()
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if self.path != "/invocations":
            self._send(404, b'{"error": "not found"}')
            return
        if EXTRA_LATENCY:
            time.sleep(EXTRA_LATENCY)
        try:
            rows = json.loads(raw)["inputs"]
            labels = [predict([float(x) for x in row]) for row in rows]
        except (ValueError, KeyError, TypeError):
            COUNTERS.observe(400, time.perf_counter() - started, [])
            self._send(400, b'{"error": "expected {\\"inputs\\": [[numbers]]}"}')
            return
        if COUNTERS.next_fails():
            COUNTERS.observe(500, time.perf_counter() - started, [])
            self._send(500, b'{"error": "injected failure"}')
            return
        COUNTERS.observe(200, time.perf_counter() - started, labels)
        self._send(200, json.dumps({"predictions": labels}).encode())


if __name__ == "__main__":
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 256
    ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
