"""The request handler the tests' stand-in HTTP APIs share: read a request body, answer JSON,
log nothing (a test's output should hold the test's own lines)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    """Subclassed per server; the subclass's ``do_*`` methods call :meth:`body` and
    :meth:`reply`."""

    def body(self) -> bytes:
        """The request body as sent (empty without a ``Content-Length``)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
        """Answer ``status`` with ``answer`` as a JSON document (and ``headers``: a ``link`` to
        the next page, a ``retry-after``)."""
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass
