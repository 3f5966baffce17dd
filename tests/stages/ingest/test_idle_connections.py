"""The test stores stay answerable while a client holds a connection open and sends nothing.

HTTP clients open connections they never use (a pooled socket, a speculative dial) and close
them when they please. gcp-storage-emulator's own server waits on such a connection without
limit and answers no one else meanwhile, so a read then failed at its bound for a reason that
is not lockgate's. These check the harness: the emulator as the tests start it, and the TLS
proxy in front of it, which dials the server behind only once a request arrives."""

from __future__ import annotations

import json
import socket
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.cloudstores import GcsEmulator
from tests.engine.tls_ca import make_tls
from tests.tls_proxy import TlsProxy

ANSWER_WITHIN = 10  # seconds: a hang, not a pace; a free emulator answers in milliseconds


def _buckets(url: str, context: ssl.SSLContext | None = None) -> list[str]:
    with urllib.request.urlopen(
        f"{url}/storage/v1/b?project=test", timeout=ANSWER_WITHIN, context=context
    ) as reply:
        return [b["name"] for b in json.load(reply).get("items", [])]


@pytest.fixture
def bucket(gcs_emulator: GcsEmulator) -> Iterator[str]:
    fs = gcs_emulator.filesystem()
    fs.mkdir("idle-check")
    yield "idle-check"
    fs.rm("idle-check", recursive=True)


def test_the_emulator_answers_while_another_connection_sits_idle(
    gcs_emulator: GcsEmulator, bucket: str
) -> None:
    parts = urlsplit(gcs_emulator.endpoint)
    with socket.create_connection((parts.hostname, parts.port)):  # opened, nothing sent
        assert bucket in _buckets(gcs_emulator.endpoint)


def test_the_tls_proxy_dials_the_server_only_for_a_request(
    gcs_emulator: GcsEmulator, bucket: str, tmp_path: Path
) -> None:
    tls = make_tls(tmp_path, "127.0.0.1")
    proxy = TlsProxy(gcs_emulator.endpoint, tls)
    trust = ssl.create_default_context(cafile=str(tls.ca))
    port = urlsplit(proxy.url).port
    try:
        with trust.wrap_socket(
            socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1"
        ):  # the handshake done, nothing sent
            assert bucket in _buckets(proxy.url, trust)
            assert proxy.dialled == 1, "the idle connection reached no further than the proxy"
    finally:
        proxy.stop()
