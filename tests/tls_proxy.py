"""A TLS-terminating proxy for the tests: HTTPS on a free loopback port with a certificate from
a test CA (tests/engine/tls_ca.py), every byte passed on, in plain, to a server that speaks
only HTTP (gcp-storage-emulator, the tests' token endpoint, moto). It counts the bytes clients
send after a completed handshake, so a test can show that a client which did not trust the
certificate sent nothing at all: no request, no signature, no token."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from pathlib import Path
from urllib.parse import urlsplit

from tests.engine.kms_servers import ServerTls


class TlsProxy:
    def __init__(self, target: str, tls: ServerTls, host: str = "127.0.0.1") -> None:
        """``target``: the plain server's ``http://HOST:PORT``."""
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(Path(tls.cert), Path(tls.key))
        self.listener = socket.create_server((host, 0))
        self.url = f"https://{host}:{self.listener.getsockname()[1]}"
        self.sent = 0  # bytes clients sent through a completed handshake
        self.refused = 0  # handshakes the client broke off (its certificate check failed)
        self.dialled = 0  # connections opened to the server behind
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        try:
            client = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            with self._lock:
                self.refused += 1
            conn.close()
            return
        # the server behind is dialled when the client's first bytes arrive, as a terminating
        # load balancer does: a connection opened and left idle (a pooled or speculative one)
        # must not hold a server that answers one connection at a time
        try:
            first = client.recv(65536)
        except OSError:
            first = b""
        if not first:
            client.close()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=30)
            with self._lock:
                self.dialled += 1
                self.sent += len(first)
            upstream.sendall(first)
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
        self._pump(client, upstream, True)

    def _pump(self, source: socket.socket, sink: socket.socket, count: bool) -> None:
        try:
            while data := source.recv(65536):
                if count:
                    with self._lock:
                        self.sent += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.close()

    def stop(self) -> None:
        self.listener.close()
