"""The release page's HTTP server: ``http.server`` from the standard library, GET only.

Read-only: every other method is answered 405, nothing on the page writes. Each request reads
the ledger and the rollout records afresh, so the page is as live as the files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lockgate.delivery.ledger.entry import format_time, parse_time
from lockgate.delivery.ledger.lineage import trace
from lockgate.ui.fold import LedgerFold, fold
from lockgate.ui.overview import build, load_rollouts
from lockgate.ui.page import render_lineage, render_overview
from lockgate.ui.snapshot import LedgerSnapshot


class ReleasePage:
    """Renders the pages from a ledger folder and a rollout-record folder."""

    def __init__(
        self, ledger_dir: Path, rollouts_dir: Path | None, audit: Callable[[], Any] | None
    ) -> None:
        self.snapshot = LedgerSnapshot(ledger_dir, audit)
        self.rollouts_dir = rollouts_dir
        self._folded = LedgerFold()  # "now", extended request by request
        self._lock = threading.Lock()

    def overview(self, at_text: str | None) -> tuple[int, str]:
        at = None
        if at_text:
            try:
                at = format_time(parse_time(at_text))
            except ValueError:
                return 400, f"at={at_text!r}: expected a time like 2026-11-20T10:00Z"
        entries, audit = self.snapshot.read()
        rollouts = load_rollouts(self.rollouts_dir)
        if at is not None:
            return 200, render_overview(build(entries, rollouts, at, audit))
        with self._lock:  # requests are served on threads; one extends the fold at a time
            self._folded = fold(entries, self._folded)
            view = build(entries, rollouts, None, audit, self._folded)
        return 200, render_overview(view)

    def warm(self) -> None:
        """Read, audit and fold the whole ledger once, before the first visitor: later pages
        read only what was appended since, so no request pays for the whole history."""
        self.overview(None)

    def lineage(self, digest: str) -> tuple[int, str]:
        entries, _ = self.snapshot.read()
        found = trace(digest, entries, None, None)
        return 200, render_lineage(digest, entries, found[0] if found else None)


def make_handler(page: ReleasePage) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "lockgate-ui"

        def log_message(self, format: str, *args: Any) -> None:  # stdlib name
            return  # quiet: the page is polled

        def _send(self, status: int, body: str, kind: str = "text/html") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header(
                "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"
            )
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_GET(self) -> None:  # http.server's naming
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if url.path == "/":
                self._send(*page.overview(query["at"][0] if query.get("at") else None))
            elif url.path == "/lineage" and query.get("digest"):
                self._send(*page.lineage(query["digest"][0]))
            elif url.path == "/healthz":
                self._send(200, "ok\n", "text/plain")
            else:
                self._send(404, "not found\n", "text/plain")

        do_HEAD = do_GET

        def _read_only(self) -> None:
            self._send(
                HTTPStatus.METHOD_NOT_ALLOWED, "the release page is read-only\n", "text/plain"
            )

        do_POST = do_PUT = do_DELETE = do_PATCH = _read_only

    return Handler


def serve(page: ReleasePage, host: str, port: int) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(page))
