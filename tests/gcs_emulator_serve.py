"""gcp-storage-emulator as the tests run it (``python gcs_emulator_serve.py start ...``).

The emulator's own server takes one connection at a time and waits without limit for its
request, so a client that opens a connection and sends nothing (a pooled or speculative socket
an HTTP client abandons) holds every other client until it goes: a listing then waits past its
bound and a test fails for a reason that is not the code's. Here each connection is read on its
own thread, an idle one is dropped after a minute, and the emulator's handlers still run one at
a time, as they were written to."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from http import server
from typing import Any

from gcp_storage_emulator import server as emulator
from gcp_storage_emulator.__main__ import main

_one_at_a_time = threading.Lock()


class _Server(server.ThreadingHTTPServer):
    daemon_threads = True


def _serialised(name: str) -> Callable[[Any], None]:
    handle = getattr(emulator.RequestHandler, name)

    def serialised(self: Any) -> None:
        with _one_at_a_time:
            handle(self)

    return serialised


class _Handler(emulator.RequestHandler):
    timeout = 60


for _verb in ("GET", "POST", "PUT", "PATCH", "DELETE"):
    setattr(_Handler, f"do_{_verb}", _serialised(f"do_{_verb}"))

server.HTTPServer = _Server  # type: ignore[misc]  # what the emulator's API thread builds
emulator.RequestHandler = _Handler

if __name__ == "__main__":
    sys.exit(main())
