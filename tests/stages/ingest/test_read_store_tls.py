"""S3 and GCS over HTTPS with a private CA named in ``with.source.files.ca_file``.

moto's S3 server and gcp-storage-emulator (with the tests' service-account token endpoint) are
the real servers; each sits behind a TLS-terminating proxy (tests/tls_proxy.py) whose
certificate, for 127.0.0.1, comes from a CA made for this module. The proxy counts the bytes a
client sends after a completed handshake, so a refused certificate is shown to carry nothing:
no signed request, no key assertion, no token.

The rule checked: with ``ca_file`` only that CA is trusted; the host's AWS_CA_BUNDLE,
REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and SSL_CERT_FILE neither replace it (a read works with
them naming another CA) nor extend it (another CA in ``ca_file`` fails with them naming the
right one)."""

from __future__ import annotations

import io
import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.ingest import main
from tests.cloudstores import GcsEmulator
from tests.engine.kms_servers import ServerTls
from tests.engine.tls_ca import make_tls
from tests.s3store import S3Store
from tests.stages.ingest.test_read_postgres import read_all
from tests.stages.ingest.test_read_s3 import _written
from tests.tls_proxy import TlsProxy

AMBIENT = ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


@dataclass
class Store:
    """One bucket behind the TLS proxy, the secrets that read it, and its proxies."""

    scheme: str
    bucket: str
    put: Callable[[str, bytes], None]
    secrets: dict[str, str]
    fields: dict[str, str]
    hidden: tuple[str, ...]
    proxies: tuple[TlsProxy, ...]
    issued: list[str] = field(default_factory=list)

    def sent(self) -> int:
        return sum(p.sent for p in self.proxies)

    def context(self, tmp: Path, ca: Path | None, **secrets: str) -> Any:
        from tests.stages.ingest.conftest import stage_context

        files: dict[str, Any] = {
            "path": f"{self.scheme}://{self.bucket}/events/*.parquet",
            "credentials": self.fields,
        }
        if ca is not None:
            files["ca_file"] = "certs/ca.pem"
        ctx = stage_context(tmp, {"source": {"files": files}})
        if ca is not None:
            (ctx.workspace / "certs").mkdir()
            shutil.copy(ca, ctx.workspace / "certs" / "ca.pem")
        for name, value in (self.secrets | secrets).items():
            (ctx.secrets_dir / name).write_text(value + "\n")
        return ctx


def _parquet(ids: list[int]) -> bytes:
    import polars as pl

    buf = io.BytesIO()
    pl.DataFrame({"id": ids}).write_parquet(buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> ServerTls:
    return make_tls(tmp_path_factory.mktemp("store-tls"), "127.0.0.1")


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tls(tmp_path_factory.mktemp("stranger"), "127.0.0.1").ca


@pytest.fixture(scope="module")
def s3_tls(s3_store: S3Store, tls: ServerTls) -> Iterator[TlsProxy]:
    proxy = TlsProxy(s3_store.endpoint, tls)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def gcs_tls(gcs_emulator: GcsEmulator, tls: ServerTls) -> Iterator[tuple[TlsProxy, TlsProxy]]:
    store = TlsProxy(gcs_emulator.endpoint, tls)
    login = TlsProxy(gcs_emulator.tokens.url.removesuffix("/token"), tls)
    yield store, login
    store.stop()
    login.stop()


def _s3(s3_store: S3Store, proxy: TlsProxy) -> Iterator[Store]:
    client = s3_store.client()
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    yield Store(
        "s3",
        bucket,
        lambda key, body: client.put_object(Bucket=bucket, Key=key, Body=body),
        {
            "s3-id": s3_store.access_key_id,
            "s3-secret": s3_store.secret_access_key,
            "s3-endpoint": proxy.url,
        },
        {"access_key_id": "s3-id", "secret_access_key": "s3-secret", "endpoint_url": "s3-endpoint"},
        (s3_store.access_key_id, s3_store.secret_access_key),
        (proxy,),
    )
    for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=obj["Key"])
    client.delete_bucket(Bucket=bucket)


def _gcs(emulator: GcsEmulator, proxies: tuple[TlsProxy, TlsProxy]) -> Iterator[Store]:
    fs = emulator.filesystem()
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    fs.mkdir(bucket)
    account = emulator.tokens.service_account(f"reader-{bucket}@lake-project.iam")
    account["token_uri"] = f"{proxies[1].url}/token"  # the login host behind TLS too
    yield Store(
        "gs",
        bucket,
        lambda key, body: fs.pipe(f"{bucket}/{key}", body),
        {"gcs-key": json.dumps(account), "gcs-endpoint": proxies[0].url},
        {"service_account_json": "gcs-key", "endpoint_url": "gcs-endpoint"},
        (account["private_key"].split("-----END")[0],),
        proxies,
        emulator.tokens.granted,
    )
    fs.rm(bucket, recursive=True)


@pytest.fixture(params=["s3", "gs"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "s3":
        made = _s3(request.getfixturevalue("s3_store"), request.getfixturevalue("s3_tls"))
    else:
        made = _gcs(request.getfixturevalue("gcs_emulator"), request.getfixturevalue("gcs_tls"))
    yield from made


def _one_line_failure(ctx: Any, store: Store, capfd: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(LockgateError) as failure:
        main(ctx)
    message = str(failure.value)
    logs = capfd.readouterr()
    assert "\n" not in message and "Traceback" not in logs.out + logs.err
    for value in (*store.hidden, *store.issued):
        assert value not in message + logs.out + logs.err
    return message


def test_a_read_over_tls_trusts_the_declared_ca_and_not_the_hosts(
    tmp_path: Path,
    store: Store,
    tls: ServerTls,
    stranger: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The host's CA variables all name another CA: the declared one is still what counts."""
    store.put("events/a.parquet", _parquet([1, 2]))
    store.put("events/b.parquet", _parquet([3]))
    for name in AMBIENT:
        monkeypatch.setenv(name, str(stranger))
    sent, issued = store.sent(), len(store.issued)
    ctx = store.context(tmp_path, tls.ca)
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert sorted(data["id"].to_list()) == [1, 2, 3]
    assert manifest["source"]["partitions"] == 2
    assert store.sent() > sent, "the requests went through the TLS proxy"
    if store.scheme == "gs":
        assert len(store.issued) == issued + 1, "one token, from the token endpoint over TLS"
    logs = capfd.readouterr()
    written = _written(tmp_path) + (logs.out + logs.err).encode()
    for value in (*store.hidden, *store.issued):
        assert value.encode() not in written


@pytest.mark.parametrize("trust", ["no ca_file", "another CA"])
def test_an_untrusted_certificate_is_one_line_and_nothing_is_sent(
    tmp_path: Path,
    store: Store,
    tls: ServerTls,
    stranger: Path,
    trust: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Without ca_file the client's default trust does not know the CA; with another CA in it,
    the host's variables naming the right CA do not rescue the read (they do not extend it).
    Either way the handshake is broken off before a byte of request: for GCS, before the key's
    signed assertion reaches the token endpoint."""
    store.put("events/a.parquet", _parquet([1]))
    ca = None
    if trust == "another CA":
        ca = stranger
        for name in AMBIENT:
            monkeypatch.setenv(name, str(tls.ca))
    sent, issued = store.sent(), len(store.issued)
    message = _one_line_failure(store.context(tmp_path, ca), store, capfd)
    assert f"cannot list {store.scheme}://{store.bucket}/events/*.parquet" in message
    assert "certificate verify failed" in message.lower()
    assert "not trusted or names another host" in message
    assert "name the CA that signed it in with.source.files.ca_file" in message
    assert store.sent() == sent and len(store.issued) == issued


def test_a_certificate_for_another_host_is_refused(
    tmp_path: Path, store: Store, tls: ServerTls, capfd: pytest.CaptureFixture[str]
) -> None:
    """The store named ``localhost`` where its certificate names 127.0.0.1: refused although
    its CA is trusted, and no request reaches it."""
    store.put("events/a.parquet", _parquet([1]))
    endpoint = store.proxies[0].url.replace("127.0.0.1", "localhost")
    name = store.fields["endpoint_url"]
    sent = store.proxies[0].sent
    message = _one_line_failure(store.context(tmp_path, tls.ca, **{name: endpoint}), store, capfd)
    assert "certificate verify failed" in message.lower() and "'localhost'" in message
    assert "not trusted or names another host" in message
    assert store.proxies[0].sent == sent


def test_a_declared_ca_needs_https_endpoints(
    tmp_path: Path, store: Store, tls: ServerTls, capfd: pytest.CaptureFixture[str]
) -> None:
    """ca_file with a plain-HTTP endpoint (or a GCS key whose token_uri is plain HTTP) is a
    mistake, not a quiet fallback: refused before anything is contacted."""
    name = store.fields["endpoint_url"]
    plain = store.secrets[name].replace("https://", "http://")
    sent = store.sent()
    message = _one_line_failure(store.context(tmp_path, tls.ca, **{name: plain}), store, capfd)
    assert "with.source.files.ca_file is declared, but" in message
    assert "endpoint_url is not an https:// URL" in message and plain not in message
    if store.scheme == "gs":
        key = json.loads(store.secrets["gcs-key"])
        key["token_uri"] = key["token_uri"].replace("https://", "http://")
        ctx = store.context(tmp_path / "token", tls.ca, **{"gcs-key": json.dumps(key)})
        message = _one_line_failure(ctx, store, capfd)
        assert "service_account_json's token_uri is not an https:// URL" in message
    assert store.sent() == sent


def test_a_ca_file_that_is_not_a_ca_bundle_is_named(
    tmp_path: Path, store: Store, capfd: pytest.CaptureFixture[str]
) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate\n")
    sent = store.sent()
    message = _one_line_failure(store.context(tmp_path, not_pem), store, capfd)
    assert message.startswith("with.source.files.ca_file: ") and "certs/ca.pem" in message
    assert "not a readable PEM CA bundle" in message and store.sent() == sent


def test_a_gcs_token_refresh_trusts_the_declared_ca(
    gcs_emulator: GcsEmulator,
    gcs_tls: tuple[TlsProxy, TlsProxy],
    tls: ServerTls,
    stranger: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gcsfs renews an expired token through a ``requests`` session of its own, which would
    trust REQUESTS_CA_BUNDLE instead: the renewal goes through the declared CA too."""
    import datetime

    from lockgate.stages.ingest.google_storage import open_gcs

    lakes = _gcs(gcs_emulator, gcs_tls)
    lake = next(lakes)
    lake.put("events/a.parquet", _parquet([1]))
    for name in AMBIENT:
        monkeypatch.setenv(name, str(stranger))
    key = json.loads(lake.secrets["gcs-key"])
    opts = {"token": key, "endpoint_url": gcs_tls[0].url, "ca_file": str(tls.ca)}
    fs, _ = open_gcs(f"gs://{lake.bucket}", opts | {"skip_instance_cache": True})
    granted = len(gcs_emulator.tokens.granted)
    creds = fs.credentials.credentials
    creds.expiry = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(
        hours=1
    )
    assert fs.ls(f"{lake.bucket}/events") == [f"{lake.bucket}/events/a.parquet"]
    assert len(gcs_emulator.tokens.granted) == granted + 1, "renewed over TLS"
    next(lakes, None)  # the bucket removed


def test_ca_file_is_refused_where_there_is_no_tls() -> None:
    from lockgate.stages.ingest.config import IngestConfigError, parse_ingest_config

    for path in ("data/events/*.parquet", "memory://lake/events"):
        with pytest.raises(IngestConfigError, match="ca_file is taken by object-store sources"):
            parse_ingest_config({"source": {"files": {"path": path, "ca_file": "ca.pem"}}})
    for path in ("s3://lake/events", "gs://lake/events", "az://lake/events"):
        parse_ingest_config({"source": {"files": {"path": path, "ca_file": "ca.pem"}}})


def test_a_gcs_access_token_reads_over_tls_through_the_declared_ca(
    tmp_path: Path,
    gcs_emulator: GcsEmulator,
    gcs_tls: tuple[TlsProxy, TlsProxy],
    tls: ServerTls,
    stranger: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No token endpoint on this path: the store's own session is what trusts the CA."""
    lakes = _gcs(gcs_emulator, gcs_tls)
    lake = next(lakes)
    lake.put("events/a.parquet", _parquet([9]))
    for name in AMBIENT:
        monkeypatch.setenv(name, str(stranger))
    lake.fields = {"access_token": "gcs-token", "endpoint_url": "gcs-endpoint"}
    token = "ya29.tls-" + uuid.uuid4().hex
    sent = gcs_tls[0].sent
    ctx = lake.context(tmp_path, tls.ca, **{"gcs-token": token})
    assert main(ctx) == 0
    assert read_all(ctx.out)[0]["id"].to_list() == [9]
    assert gcs_tls[0].sent > sent
    assert token.encode() not in _written(tmp_path)
    next(lakes, None)
