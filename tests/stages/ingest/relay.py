"""A TCP relay between a stage and a local store, which a test cuts mid-run (the store is lost
while the stage reads it) or slows (each request waits before it goes on)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable


class Relay:
    """A TCP relay to a store that a test cuts after the listing: from then on the store
    refuses connections (``refused``: the port is closed) or takes them and never answers
    (``silent``: a store behind a dead link or an overloaded proxy)."""

    def __init__(self, target: str, how: str, delay: float = 0.0) -> None:
        host, port = target.rsplit(":", 1)
        self.target, self.how, self.cut_at = (host, int(port)), how, 0.0
        self.delay = delay  # seconds each request waits before it goes on: a slow store
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.open.append(client)
            if self.cut_at:
                continue  # silent: taken, never answered
            upstream = socket.create_connection(self.target)
            self.open.append(upstream)
            for source, sink, wait in ((client, upstream, self.delay), (upstream, client, 0.0)):
                pump = threading.Thread(target=self._pump, args=(source, sink, wait), daemon=True)
                pump.start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, wait: float) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                time.sleep(wait)
                sink.sendall(data)
        for end in (source, sink):
            end.close()

    def cut(self) -> None:
        self.cut_at = time.monotonic()
        if self.how == "refused":
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept(): the port closes
            self.listener.close()
        for end in list(self.open):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for end in list(self.open):
            end.close()

    def failure(self, call: Callable[[], object]) -> tuple[BaseException, float]:
        """What ``call`` raises (it must raise), and how many seconds after the cut it did; the
        relay is stopped after, whatever happens."""
        try:
            call()
        except Exception as exc:
            return exc, time.monotonic() - self.cut_at
        finally:
            self.stop()
        raise AssertionError("the call did not fail")
