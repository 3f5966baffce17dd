"""A TCP relay between a stage and a local store, which a test cuts mid-run (the store is lost
while the stage reads it, or a body stops arriving partway) or slows (each request waits before
it goes on)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable


class Relay:
    """A TCP relay to a store that a test cuts after the listing: from then on the store
    refuses connections (``refused``: the port is closed) or takes them and never answers
    (``silent``: a store behind a dead link or an overloaded proxy); or from then on lets
    ``allowance`` bytes of answers through and then stops mid-body: the connection is held open
    and nothing more arrives (``stall``), or it is reset, ``resets`` times, after which answers
    pass again (``reset``: a link that drops a connection now and then)."""

    def __init__(
        self, target: str, how: str, delay: float = 0.0, allowance: int = 0, resets: int = 1
    ) -> None:
        host, port = target.rsplit(":", 1)
        self.target, self.how, self.cut_at = (host, int(port)), how, 0.0
        self.delay = delay  # seconds each request waits before it goes on: a slow store
        self.allowance = self.left = allowance  # bytes of answers let through once cut
        self.resets = resets
        self.stopped = threading.Event()
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
            if self.cut_at and not self.midway:
                continue  # silent: taken, never answered
            upstream = socket.create_connection(self.target)
            self.open.append(upstream)
            for ends in ((client, upstream, self.delay, False), (upstream, client, 0.0, True)):
                threading.Thread(target=self._pump, args=ends, daemon=True).start()

    @property
    def midway(self) -> bool:
        return self.how in ("stall", "reset")

    def _pump(self, source: socket.socket, sink: socket.socket, wait: float, answers: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                time.sleep(wait)
                if answers and self.cut_at and self.midway and self.resets > 0:
                    data, self.left = data[: max(self.left, 0)], self.left - len(data)
                    sink.sendall(data)
                    if self.left < 0:
                        break
                    continue
                sink.sendall(data)
        if not answers or not self.cut_at or self.left >= 0:
            pass
        elif self.how == "stall":
            self.stopped.wait()  # the body stops; the connection stays open
        elif self.how == "reset" and self.resets > 0:
            self.resets, self.left = self.resets - 1, self.allowance
            # an RST, not a FIN: the connection is lost, not ended. The other pump, blocked in a
            # read of the same socket, must let go of it first or closing it sends nothing
            with contextlib.suppress(OSError):
                sink.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sink.shutdown(socket.SHUT_RD)
        for end in (source, sink):
            end.close()

    def cut(self) -> None:
        self.cut_at = time.monotonic()
        if self.midway:
            return  # from now on answers stop after the allowance
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
        self.stopped.set()
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

    def outlived(self, call: Callable[[], object]) -> object:
        """What ``call`` returns when it goes on past every reset the relay was to make; the
        relay is stopped after, whatever happens."""
        try:
            result = call()
        finally:
            self.stop()
        assert self.resets == 0, "the relay did not cut the body"
        return result
