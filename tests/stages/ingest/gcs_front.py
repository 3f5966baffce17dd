"""An HTTP front for gcp-storage-emulator that pages object listings as Google Cloud Storage does.

The emulator answers every objects.list request (``GET /storage/v1/b/BUCKET/o``) whole, in one
response, whatever ``maxResults`` asks, and never gives a ``nextPageToken``. The real JSON API
pages it: a response holds at most ``maxResults`` entries, items and prefixes together, and never
more than 1,000 (the service takes the smaller); entries come in lexicographic order of name;
when more remain the response carries ``nextPageToken``, an opaque string the client sends back
as ``pageToken``, with the same other parameters, to get the next page; the last page has no
token. A client that stops at the first page, or loses one, is only caught against a store that
pages, so this front stands in for the real service's paging, which the emulator lacks.

Each listing is forwarded to the emulator without ``maxResults`` and ``pageToken``, and the
front answers the page the token names. Its token is the last name of the page before, base64
encoded (the next page starts after it), so a listing stays in order however its pages fall.
Every other request (object lookups, downloads, uploads, bucket calls) is passed through
unchanged: method, headers and body both ways (a body in chunks is sent on whole, with its
length).
The client's ``Host`` header goes to the emulator as sent, and the emulator's own address in a
JSON answer (an object's ``mediaLink``, stored when it was uploaded) is rewritten to the
front's, so a client that follows a link still comes through the front.

:func:`start_emulator` starts an emulator of the test's own that fills quickly: the emulator
rewrites its whole metadata file on every upload, so filling a bucket with n objects costs n²
(2,501 objects took over half a minute); this one skips that rewrite, a copy in memory that an
in-memory emulator only reads when it starts.

A test may hold each listing request ``delay`` seconds (a slow store), count the listing
requests served with a page token (proof that a listing took more than one page), or have the
front drop the last page of every listing (a store that loses one: a test that passes anyway
proves nothing).
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.cloudstores import GcsEmulator, TokenEndpoint, _wait_port, free_port

PAGE_LIMIT = 1000  # the most entries one page of the real service holds, whatever is asked
LISTING = re.compile(r"^/storage/v1/b/[^/]+/o$")
# hop-by-hop headers, and the length the front sets itself once it has the whole body
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
OWN = HOP | {"server", "date"}  # what the front's own answer says itself


# the emulator's own entry point, with the rewrite of its metadata file on each upload left out
QUICK = (
    "import sys, gcp_storage_emulator.storage as s; "
    "s.Storage._write_config_to_file = lambda self: None; "
    "from gcp_storage_emulator.__main__ import main; main(sys.argv[1:])"
)


def start_emulator(log: Path) -> GcsEmulator:
    """An in-memory gcp-storage-emulator on loopback that takes thousands of uploads in seconds,
    and a service-account token endpoint beside it."""
    port = free_port()
    args = ["start", "--in-memory", "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", QUICK, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={"PATH": "/usr/bin:/bin"},  # none of the host's Google settings
        )
    _wait_port("127.0.0.1", port, process, "gcp-storage-emulator", log)
    return GcsEmulator(f"http://127.0.0.1:{port}", TokenEndpoint().start(), process)


def page_token(last: str) -> str:
    """The token of the page after the one that ended with ``last``."""
    return base64.urlsafe_b64encode(last.encode()).decode()


def after(token: str) -> str:
    """The last name of the page before the one ``token`` names (ValueError if it names none)."""
    last = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    if not last:
        raise ValueError(f"no page token: {token!r}")
    return last


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a client opens many connections at once: none is refused

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that gave up on an answer (gcsfs cancels the loser of two lookups it races)
        # is no error of the front's
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class GcsFront:
    """A paging HTTP front on a free loopback port for the emulator at ``emulator`` (its URL)."""

    def __init__(self, emulator: str, delay: float = 0.0, drop_last: bool = False) -> None:
        target = urlsplit(emulator)
        self.target = (target.hostname or "127.0.0.1", target.port or 80)
        self.delay = delay  # seconds each listing request is held before it is answered
        self.drop_last = drop_last  # the last page of a listing is never given
        self.tokens: list[str | None] = []  # each listing request's pageToken, None for a first
        self.lock = threading.Lock()
        # the emulator serves one request at a time and queues only a few connections: more at
        # once are refused, and the client would retry them for many seconds
        self.upstream = threading.BoundedSemaphore(4)
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # connections kept open, as the real service does

            def do_GET(self) -> None:
                front._serve(self)

            def do_HEAD(self) -> None:
                front._serve(self)

            def do_POST(self) -> None:
                front._serve(self)

            def do_PUT(self) -> None:
                front._serve(self)

            def do_PATCH(self) -> None:
                front._serve(self)

            def do_DELETE(self) -> None:
                front._serve(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def paged(self) -> int:
        """How many listing requests asked for a page after the first."""
        with self.lock:
            return sum(token is not None for token in self.tokens)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        body = _request_body(handler)
        path, _, query = handler.path.partition("?")
        if handler.command == "GET" and LISTING.match(path):
            self._listing(handler, path, parse_qsl(query, keep_blank_values=True))
            return
        status, reason, headers, answer = self._forward(handler, handler.path, body)
        _answer(handler, status, reason, headers, answer)

    def _forward(
        self, handler: BaseHTTPRequestHandler, target: str, body: bytes | None
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """The emulator's answer to the client's request, sent on to ``target``."""
        with self.upstream:
            connection = http.client.HTTPConnection(*self.target, timeout=60)
            try:
                connection.putrequest(
                    handler.command, target, skip_host=True, skip_accept_encoding=True
                )
                for name, value in handler.headers.items():
                    if name.lower() not in HOP:
                        connection.putheader(name, value)
                if body is not None:
                    connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body)
                response = connection.getresponse()
                answer = response.read()  # whole, whether sent with a length or in chunks
            finally:
                connection.close()
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in OWN]
        if handler.command == "HEAD":
            length = response.getheader("Content-Length")
            headers += [("Content-Length", length)] if length is not None else []
        mine = handler.headers.get("Host") or self.url.split("//", 1)[1]
        kind = next((v for k, v in headers if k.lower() == "content-type"), "")
        if "json" in kind:
            emulator = f"{self.target[0]}:{self.target[1]}".encode()
            answer = answer.replace(b"//" + emulator, b"//" + mine.encode())
        return response.status, response.reason, headers, answer

    def _listing(
        self, handler: BaseHTTPRequestHandler, path: str, query: list[tuple[str, str]]
    ) -> None:
        """One page of an object listing, as the real service gives it."""
        params = dict(query)
        token = params.get("pageToken")
        with self.lock:
            self.tokens.append(token)
        if self.delay:
            time.sleep(self.delay)
        whole = [(k, v) for k, v in query if k not in ("maxResults", "pageToken")]
        target = f"{path}?{urlencode(whole)}" if whole else path
        status, reason, headers, answer = self._forward(handler, target, None)
        if status != 200:
            _answer(handler, status, reason, headers, answer)
            return
        try:
            size = max(1, min(int(params.get("maxResults") or PAGE_LIMIT), PAGE_LIMIT))
            start = after(token) if token else None
        except ValueError:
            _error(handler, 400, "Invalid argument: maxResults or pageToken")
            return
        listing = json.loads(answer)
        entries = sorted(
            [(item["name"], "items", item) for item in listing.get("items") or []]
            + [(prefix, "prefixes", prefix) for prefix in listing.get("prefixes") or []],
            key=lambda entry: entry[0],
        )
        remaining = [entry for entry in entries if start is None or entry[0] > start]
        page, rest = remaining[:size], remaining[size:]
        out: dict[str, Any] = {"kind": "storage#objects"}
        for field in ("prefixes", "items"):
            chosen = [entry[2] for entry in page if entry[1] == field]
            if chosen:  # the service leaves an empty list out
                out[field] = chosen
        lost = self.drop_last and len(rest) <= size  # the next page is the last, and is lost
        if rest and not lost:
            out["nextPageToken"] = page_token(page[-1][0])
        _answer(
            handler, 200, "OK", [("Content-Type", "application/json")], json.dumps(out).encode()
        )


def _request_body(handler: BaseHTTPRequestHandler) -> bytes | None:
    """The request's body, whether sent with a length or in chunks; None when it has none."""
    length = handler.headers.get("Content-Length")
    if length is not None:
        return handler.rfile.read(int(length))
    if (handler.headers.get("Transfer-Encoding") or "").lower() != "chunked":
        return None
    body = b""
    while True:
        size = int(handler.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while handler.rfile.readline().strip():  # trailers, up to the blank line
                pass
            return body
        body += handler.rfile.read(size)
        handler.rfile.readline()  # the line end after each chunk


def _answer(
    handler: BaseHTTPRequestHandler,
    status: int,
    reason: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    handler.send_response(status, reason)
    for name, value in headers:
        handler.send_header(name, value)
    if handler.command != "HEAD":
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def _error(handler: BaseHTTPRequestHandler, status: int, message: str) -> None:
    body = json.dumps({"error": {"code": status, "message": message}}).encode()
    _answer(handler, status, "Bad Request", [("Content-Type", "application/json")], body)
