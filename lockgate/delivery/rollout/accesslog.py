"""The proxy's access log, read incrementally, grouped by upstream.

nginx writes one line per client request (format ``lockgate`` in the routing file)::

    $msec $status $request_time "$upstream_addr" "$upstream_status" "$upstream_response_time"

When nginx retried on another upstream, the three upstream fields are comma-separated lists,
one item per attempt; each attempt is counted against the upstream that made it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LOG_FORMAT = (
    '\'$msec $status $request_time "$upstream_addr" "$upstream_status" "$upstream_response_time"\''
)
_LINE = re.compile(
    r'^(?P<msec>[\d.]+) (?P<status>\d{3}) (?P<rt>[\d.]+) "(?P<addr>[^"]*)" '
    r'"(?P<ustatus>[^"]*)" "(?P<urt>[^"]*)"$'
)


@dataclass(frozen=True)
class Attempt:
    """One try of one client request at one upstream."""

    at: float  # unix time the request finished
    upstream: str  # host:port, or "" when no upstream was tried
    status: int  # the upstream's status (502 when it could not be reached)
    seconds: float | None
    client_status: int


def parse_line(line: str) -> list[Attempt]:
    match = _LINE.match(line.strip())
    if match is None:
        return []
    at, client_status = float(match["msec"]), int(match["status"])
    addrs = [a.strip() for a in match["addr"].replace(" : ", ", ").split(",") if a.strip()]
    if not addrs or addrs == ["-"]:
        return [Attempt(at, "", client_status, float(match["rt"]), client_status)]
    statuses = [s.strip() for s in match["ustatus"].replace(" : ", ", ").split(",")]
    times = [t.strip() for t in match["urt"].replace(" : ", ", ").split(",")]
    attempts = []
    for i, addr in enumerate(addrs):
        raw_status = statuses[i] if i < len(statuses) else "-"
        raw_time = times[i] if i < len(times) else "-"
        status = int(raw_status) if raw_status.isdigit() else 502
        seconds = float(raw_time) if raw_time not in ("", "-") else None
        attempts.append(Attempt(at, addr, status, seconds, client_status))
    return attempts


class AccessLogReader:
    """Returns the attempts logged since the previous call (a file offset is kept)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self._partial = ""

    def read_new(self) -> list[Attempt]:
        if not self.path.exists():
            return []
        size = self.path.stat().st_size
        if size < self.offset:  # rotated or truncated
            self.offset = 0
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        self.offset += len(chunk)
        text = self._partial + chunk.decode(errors="replace")
        lines = text.split("\n")
        self._partial = lines.pop()
        return [attempt for line in lines for attempt in parse_line(line)]


@dataclass(frozen=True)
class UpstreamStats:
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[rank]


def stats_for(attempts: Iterable[Attempt], upstream: str) -> UpstreamStats:
    mine = [a for a in attempts if a.upstream == upstream]
    times = [a.seconds * 1000.0 for a in mine if a.seconds is not None]
    return UpstreamStats(
        requests=len(mine),
        errors=sum(1 for a in mine if a.status >= 500),
        p50_ms=percentile(times, 0.50),
        p95_ms=percentile(times, 0.95),
        p99_ms=percentile(times, 0.99),
    )
