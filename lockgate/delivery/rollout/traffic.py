"""A bounded load generator for loopback targets: N requests per second for T seconds.

Each request is ``POST /invocations`` with a few random rows, on a fresh connection, and every
outcome is kept (start time, latency, status or error, which upstream answered) so a test or a
benchmark can say exactly which requests failed and where. Only 127.0.0.0/8 targets are
accepted: this is a test and benchmark tool, not a way to load someone else's service.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import random
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lockgate.errors import LockgateError


class NotLoopback(LockgateError):
    """The load generator only sends to 127.0.0.0/8."""


@dataclass(frozen=True)
class Outcome:
    started: float  # unix time
    seconds: float
    status: int  # 0 when no HTTP answer came back
    error: str
    upstream: str  # the proxy's X-Lockgate-Upstream header, "" when absent

    @property
    def failed(self) -> bool:
        return self.status != 200


def loopback_address(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = (
            ipaddress.ip_address(host).is_loopback and ipaddress.ip_address(host).version == 4
        )
    except ValueError:
        loopback = False
    if not loopback:
        raise NotLoopback(f"{url}: traffic may only go to 127.0.0.0/8 addresses")
    return host, parts.port or 80


def payload(rng: random.Random, rows: int, features: int) -> bytes:
    data = [[rng.uniform(-1.0, 1.0) for _ in range(features)] for _ in range(rows)]
    return json.dumps({"inputs": data}).encode()


def send(host: str, port: int, body: bytes, timeout: float) -> Outcome:
    started, t0 = time.time(), time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(
            "POST",
            "/invocations",
            body,
            {"Content-Type": "application/json", "Connection": "close"},
        )
        answer = conn.getresponse()
        answer.read()
        upstream = (answer.getheader("X-Lockgate-Upstream") or "").split(",")[-1].strip()
        return Outcome(started, time.perf_counter() - t0, answer.status, "", upstream)
    except (OSError, http.client.HTTPException) as error:
        return Outcome(started, time.perf_counter() - t0, 0, f"{type(error).__name__}: {error}", "")
    finally:
        conn.close()


class LoadGenerator:
    """Open-loop load: requests are issued on schedule whether or not earlier ones answered."""

    def __init__(
        self,
        url: str,
        rate: float,
        duration: float,
        *,
        rows: int = 16,
        features: int = 4,
        timeout: float = 10.0,
        seed: int = 1,
        workers: int = 64,
    ) -> None:
        self.host, self.port = loopback_address(url)
        self.rate, self.duration = rate, duration
        self.rows, self.features, self.timeout = rows, features, timeout
        self.rng = random.Random(seed)
        self.workers = workers
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def _send_and_record(self, body: bytes) -> None:
        self._record(send(self.host, self.port, body, self.timeout))

    def run(self) -> list[Outcome]:
        interval = 1.0 / self.rate
        begin = time.perf_counter()
        with ThreadPoolExecutor(self.workers) as pool:
            n = 0
            while not self._stop.is_set():
                due = begin + n * interval
                if due - begin >= self.duration:
                    break
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                body = payload(self.rng, self.rows, self.features)
                pool.submit(self._send_and_record, body)
                n += 1
        return self.results()

    def start(self) -> LoadGenerator:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[Outcome]:
        self._stop.set()
        return self.join()

    def join(self) -> list[Outcome]:
        if self._thread is not None:
            self._thread.join()
        return self.results()

    def results(self) -> list[Outcome]:
        with self._lock:
            return sorted(self.outcomes, key=lambda o: o.started)
