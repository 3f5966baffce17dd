"""A KMS reached over TLS, trusted through ``encryption.ca_file``: moto's server answers the AWS
KMS API over HTTPS only, on an address of this machine that is not loopback (so lockgate must
speak HTTPS to it), with a certificate from a CA made for the test. The CA named in
``ca_file`` is trusted instead of the system's store; no CA, another CA, a certificate for
another host and a plain-HTTP server at the address are each one clear error, never a fallback
to plain HTTP, and leave no wrapped key behind. The REST clients take the same file (Vault's
transit API, over TLS on loopback)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lockgate.engine.sealing import Sealer, SealError
from lockgate.errors import LockgateError
from tests.engine.kms_servers import (
    MotoKms,
    ServerTls,
    VaultTransitServer,
    as_a_new_process,
    start_moto,
)
from tests.engine.tls_ca import host_address, make_tls

pytest.importorskip("boto3", reason="the kms extra: pip install -e '.[kms]'")
pytest.importorskip("moto", reason="a local AWS KMS: pip install 'moto[server]'")

CREDS = {"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "region"}


@pytest.fixture(scope="module")
def host() -> str:
    address = host_address()
    if address is None:
        pytest.skip(reason="this machine has no address but loopback, where lockgate uses HTTP")
    return address


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory, host: str) -> ServerTls:
    return make_tls(tmp_path_factory.mktemp("tls"), host)


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory, host: str, tls: ServerTls) -> Iterator[MotoKms]:
    proc, kms = start_moto(tmp_path_factory.mktemp("moto") / "moto.log", host, tls)
    try:
        yield kms
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _sealer(kms: MotoKms, store: Path, ca_file: str | None, endpoint: str = "") -> Sealer:
    values = {"id": kms.access_key, "secret": kms.secret_key, "region": "us-east-1"}
    uri = f"awskms://{endpoint or kms.endpoint}/alias/lockgate-data"
    return Sealer.resolve(
        uri, values.__getitem__, Path, store=store, credentials=CREDS, ca_file=ca_file
    )


def test_the_named_ca_is_trusted_and_the_data_key_round_trips(
    moto: MotoKms, tls: ServerTls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert moto.url.startswith("https://") and not moto.endpoint.startswith("127.")
    store = tmp_path / "store"
    first = _sealer(moto, store, str(tls.ca))
    sealed = first.seal(b"rows of data", "part-0")
    as_a_new_process(monkeypatch)
    again = _sealer(moto, store, str(tls.ca))  # a later process: Decrypt over TLS
    assert again.key_id == first.key_id
    assert again.open(sealed, "part-0", "part-0") == b"rows of data"


@pytest.mark.parametrize("trust", ["system", "other CA"])
def test_a_kms_certificate_from_an_untrusted_ca_is_one_clear_error(
    moto: MotoKms, tmp_path: Path, trust: str
) -> None:
    ca = None if trust == "system" else str(make_tls(tmp_path / "other", "10.9.9.9").ca)
    with pytest.raises(SealError) as caught:
        _sealer(moto, tmp_path / "store", ca)
    message = str(caught.value)
    assert f"TLS to AWS KMS at https://{moto.endpoint} failed" in message, message
    assert "certificate is not trusted" in message and "encryption.ca_file" in message
    assert "\n" not in message
    assert not (tmp_path / "store").exists()  # nothing sealed, no wrapped key


def _tls_server(host: str, tls: ServerTls | None, seen: list[str]) -> ThreadingHTTPServer:
    """A server on ``host`` that records every request it reads: HTTPS with ``tls``'s
    certificate, or plain HTTP."""

    class Recorder(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.path)
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Recorder)
    if tls is not None:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


def test_a_certificate_for_another_host_is_refused(
    moto: MotoKms, host: str, tls: ServerTls, tmp_path: Path
) -> None:
    # signed by the trusted CA, but for another name: the host name check must refuse it
    signed = make_tls(tmp_path / "wrong", "kms.example.internal", issuer=tls)
    seen: list[str] = []
    server = _tls_server(host, signed, seen)
    try:
        endpoint = f"{host}:{server.server_address[1]}"
        with pytest.raises(SealError) as caught:
            _sealer(moto, tmp_path / "store", str(tls.ca), endpoint)
    finally:
        server.shutdown()
        server.server_close()
    message = str(caught.value)
    assert "certificate is not trusted" in message and "host name" in message, message
    assert "kms.example.internal" in message or "IP address mismatch" in message, message
    assert seen == []  # no request (with its signed credentials) was sent


def test_a_plain_http_server_at_a_kms_address_is_not_spoken_to_in_plaintext(
    moto: MotoKms, host: str, tls: ServerTls, tmp_path: Path
) -> None:
    seen: list[str] = []
    server = _tls_server(host, None, seen)
    try:
        with pytest.raises(SealError) as caught:
            _sealer(moto, tmp_path / "store", str(tls.ca), f"{host}:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    message = str(caught.value)
    assert "TLS handshake failed" in message and "HTTPS server" in message, message
    assert seen == []  # the handshake failed; no HTTP request, no fallback


def test_a_ca_file_that_is_not_a_ca_bundle_names_the_setting(moto: MotoKms, tmp_path: Path) -> None:
    for bad in (tmp_path / "missing.pem", tmp_path / "garbage.pem"):
        if bad.name == "garbage.pem":
            bad.write_text("not a certificate\n")
        with pytest.raises(SealError) as caught:
            _sealer(moto, tmp_path / "store", str(bad))
        message = str(caught.value)
        assert f"encryption.ca_file {bad}: not a readable PEM CA bundle" in message, message


def test_the_rest_clients_take_the_same_ca_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls = make_tls(tmp_path / "tls", "127.0.0.1")
    creds = {"VAULT_ADDR": "addr", "VAULT_TOKEN": "token"}
    with VaultTransitServer("t0ken", tls=tls) as vault:
        values = {"addr": vault.addr, "token": "t0ken"}
        assert vault.addr.startswith("https://")

        def sealer(ca: str | None) -> Sealer:
            return Sealer.resolve(
                "hashivault://lockgate",
                values.__getitem__,
                Path,
                store=tmp_path / "store",
                credentials=creds,
                ca_file=ca,
            )

        with pytest.raises(SealError) as caught:
            sealer(None)
        assert "certificate is not trusted" in str(caught.value)
        assert "encryption.ca_file" in str(caught.value)
        assert vault.requests == []
        first = sealer(str(tls.ca))
        as_a_new_process(monkeypatch)
        assert sealer(str(tls.ca)).key == first.key
        assert [r["path"].split("/")[3] for r in vault.requests] == ["datakey", "decrypt"]


def test_ca_file_needs_a_kms_key(tmp_path: Path) -> None:
    from lockgate.spec.loader import load_spec

    spec = tmp_path / "lockgate.yaml"
    spec.write_text(
        "version: 1\nname: p\nimage: {base: python:3.11-slim}\n"
        "encryption:\n  key: file:k.key\n  ca_file: ca.pem\n"
        'stages:\n  a: {run: ["true"]}\n'
    )
    with pytest.raises(LockgateError) as caught:
        load_spec(spec)
    assert str(caught.value).startswith(f"{spec}:6:12: encryption.ca_file: only a KMS key")
