"""Azure over HTTPS with a service principal: Azurite serves HTTPS with a certificate from a test
CA and takes bearer tokens (``--oauth basic``); a token endpoint that answers as the Microsoft
identity platform's v2.0 endpoint grants them only for the app's client secret or a federated
token it trusts (tests/entra_id.py). The stage trusts the CA named in ``ca_file``, never the
system's store for these servers and never with verification off.

What is stubbed: Entra ID itself (no real tenant can be reached), and Azurite's ``--oauth basic``
checks a token's issuer, audience and lifetime but not its signature, so the grant, not the
storage side, is where a wrong credential is caught."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.ingest import main
from tests.azure_https import AzureHttps
from tests.cloudstores import AZURITE_KEY, free_port
from tests.engine.tls_ca import make_tls
from tests.jwt_keys import FederatedIssuer
from tests.stages.ingest.test_read_cloud import Lake
from tests.stages.ingest.test_read_postgres import read_all
from tests.stages.ingest.test_read_s3 import _written

FIELDS = {
    "tenant_id": "az-tenant",
    "client_id": "az-client",
    "endpoint_url": "az-endpoint",
    "authority_host": "az-login",
}


@pytest.fixture()
def lake(azure_https: AzureHttps) -> Iterator[Lake]:
    """A container read by a new app registration with a client secret."""
    writer = azure_https.writer
    container = f"lake-{uuid.uuid4().hex[:10]}"
    writer.mkdir(container)
    client_id, secret = azure_https.login.app_with_secret()
    yield Lake(
        "az",
        container,
        writer,
        {
            "az-tenant": azure_https.login.tenant,
            "az-client": client_id,
            "az-secret": secret,
            "az-endpoint": azure_https.store.endpoint,
            "az-login": azure_https.login.authority(),
        },
        FIELDS | {"client_secret": "az-secret"},
        (secret,),
        azure_https.login.granted,
    )
    writer.rm(container)


def _context(tmp: Path, lake: Lake, ca: Path | None, **fields: str) -> Any:
    """A run of ``events/*.parquet`` with ``ca`` copied into the workspace as ``ca.pem``;
    ``fields`` replace credential fields (a secret name) or secrets (``secret_NAME``)."""
    with_ = lake.source("events/*.parquet")
    files = with_["source"]["files"]
    named = {k: v for k, v in fields.items() if not k.startswith("secret_")}
    files["credentials"] = {**files["credentials"], **named}
    if ca is not None:
        files["ca_file"] = "ca.pem"
    ctx = lake.context(tmp, with_)
    if ca is not None:
        shutil.copy(ca, ctx.workspace / "ca.pem")
    for name, value in fields.items():
        if name.startswith("secret_"):
            (ctx.secrets_dir / name.removeprefix("secret_")).write_text(value + "\n")
    return ctx


def _one_line_failure(ctx: Any, capfd: pytest.CaptureFixture[str], lake: Lake) -> str:
    with pytest.raises(LockgateError) as failure:
        main(ctx)
    message = str(failure.value)
    logs = capfd.readouterr()
    assert "\n" not in message and "Traceback" not in logs.out + logs.err
    for value in (*lake.hidden, *lake.issued):
        assert value not in message + logs.out + logs.err
    return message


def test_a_service_principal_reads_over_https(
    tmp_path: Path,
    lake: Lake,
    azure_https: AzureHttps,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The client secret is exchanged for a storage token at the declared authority host; the
    host's AZURE_* settings (another login host, client, secret, connection string) are not
    used; neither the secret nor any granted token is written or printed."""
    lake.put("events/a.parquet", [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])
    lake.put("events/b.parquet", [{"id": 3, "v": "c"}])
    decoy = f"https://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", decoy)
    monkeypatch.setenv("AZURE_TENANT_ID", str(uuid.uuid4()))
    monkeypatch.setenv("AZURE_CLIENT_ID", str(uuid.uuid4()))
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "hostile-secret")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", f"BlobEndpoint={decoy}/x;")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY)
    before = len(lake.issued)
    ctx = _context(tmp_path, lake, azure_https.ca)
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert sorted(data["id"].to_list()) == [1, 2, 3]
    assert manifest["source"]["partitions"] == 2
    assert len(lake.issued) == before + 1, "one token, granted by the declared endpoint"
    logs = capfd.readouterr()
    written = _written(tmp_path) + (logs.out + logs.err).encode()
    for value in (*lake.hidden, *lake.issued):
        assert value.encode() not in written


def test_a_federated_token_reads_and_another_subject_is_refused(
    tmp_path: Path, lake: Lake, azure_https: AzureHttps, capfd: pytest.CaptureFixture[str]
) -> None:
    """A CI system's OIDC token, trusted by the app for one subject, is the client assertion;
    a token for another subject is refused by the identity platform, in one line."""
    lake.put("events/a.parquet", [{"id": 7}])
    issuer = FederatedIssuer("https://ci.example.test/oidc")
    subject = "repo:lake/pipeline:ref:refs/heads/main"
    client_id = azure_https.login.app_with_federation(issuer, subject)
    token = issuer.token(subject)
    lake.hidden = (token,)
    fields = {"federated_token": "az-oidc", "secret_az-client": client_id}
    lake.fields = dict(FIELDS)
    ctx = _context(tmp_path / "ok", lake, azure_https.ca, **fields, **{"secret_az-oidc": token})
    assert main(ctx) == 0
    assert read_all(ctx.out)[0]["id"].to_list() == [7]
    logs = capfd.readouterr()
    written = _written(tmp_path) + (logs.out + logs.err).encode()
    for value in (token, *lake.issued):
        assert value.encode() not in written

    other = issuer.token("repo:someone/else:ref:refs/heads/main")
    lake.hidden = (token, other)
    bad = {"secret_az-oidc": other, "secret_az-client": client_id}
    ctx = _context(tmp_path / "other", lake, azure_https.ca, federated_token="az-oidc", **bad)
    message = _one_line_failure(ctx, capfd, lake)
    # every declared value is masked in a store's message, the client id and tenant too
    assert "Microsoft Entra ID at *** refused client *** of tenant ***" in message
    assert "AADSTS700213: No matching federated identity record" in message


def test_a_wrong_client_secret_is_one_line(
    tmp_path: Path, lake: Lake, azure_https: AzureHttps, capfd: pytest.CaptureFixture[str]
) -> None:
    lake.put("events/a.parquet", [{"id": 1}])
    wrong = "Qk9~" + uuid.uuid4().hex
    lake.hidden = (*lake.hidden, wrong)
    before = len(lake.issued)
    ctx = _context(tmp_path, lake, azure_https.ca, **{"secret_az-secret": wrong})
    message = _one_line_failure(ctx, capfd, lake)
    assert "cannot list az://" in message
    assert "Microsoft Entra ID at *** refused client *** of tenant ***" in message
    assert "AADSTS7000215: Invalid client secret provided." in message
    assert "the identity platform refused the service principal: check tenant_id" in message
    assert len(lake.issued) == before


def test_an_untrusted_ca_is_one_line(
    tmp_path: Path, lake: Lake, azure_https: AzureHttps, capfd: pytest.CaptureFixture[str]
) -> None:
    """Another CA in ca_file, or none (the system's store): the login host's certificate is
    not trusted, and no secret is sent."""
    lake.put("events/a.parquet", [{"id": 1}])
    stranger = make_tls(tmp_path / "stranger", "127.0.0.1").ca
    requests = len(azure_https.login.granted) + len(azure_https.login.refused)
    for name, ca in (("other-ca", stranger), ("system-store", None)):
        ctx = _context(tmp_path / name, lake, ca)
        message = _one_line_failure(ctx, capfd, lake)
        assert "cannot connect to the login host *** for a token" in message
        assert "certificate verify failed" in message
        assert "name the CA that signed it in with.source.files.ca_file" in message
    assert len(azure_https.login.granted) + len(azure_https.login.refused) == requests


def test_a_store_certificate_for_another_host_is_one_line(
    tmp_path: Path, lake: Lake, azure_https: AzureHttps, capfd: pytest.CaptureFixture[str]
) -> None:
    """The blob endpoint named by a host its certificate does not name (localhost, where the
    certificate names 127.0.0.1) is refused, though the CA is trusted."""
    lake.put("events/a.parquet", [{"id": 1}])
    endpoint = azure_https.store.endpoint.replace("127.0.0.1", "localhost")
    ctx = _context(tmp_path, lake, azure_https.ca, **{"secret_az-endpoint": endpoint})
    message = _one_line_failure(ctx, capfd, lake)
    assert "cannot list az://" in message
    assert "certificate verify failed" in message and "localhost" in message
    assert "not trusted or names another host" in message


def test_a_ca_file_that_is_not_a_ca_bundle_is_named(
    tmp_path: Path, lake: Lake, capfd: pytest.CaptureFixture[str]
) -> None:
    not_pem = tmp_path / "ca-src.pem"
    not_pem.write_text("not a certificate\n")
    ctx = _context(tmp_path, lake, not_pem)
    message = _one_line_failure(ctx, capfd, lake)
    assert "with.source.files.ca_file:" in message and "not a readable PEM CA bundle" in message


def test_ca_file_is_refused_for_a_store_that_does_not_take_it(tmp_path: Path) -> None:
    from lockgate.stages.ingest.config import IngestConfigError, parse_ingest_config

    files = {"path": "s3://lake/events", "ca_file": "ca.pem"}
    with pytest.raises(IngestConfigError, match="ca_file is taken by az://"):
        parse_ingest_config({"source": {"files": files}})


def test_a_client_certificate_reads_and_an_unregistered_one_is_refused(
    tmp_path: Path, lake: Lake, azure_https: AzureHttps, capfd: pytest.CaptureFixture[str]
) -> None:
    """The app's certificate signs the client assertion (PS256, named by its SHA-256
    thumbprint); a certificate not registered on the app is refused, in one line; the private
    key is in no file and no output."""
    from tests.jwt_keys import self_signed

    lake.put("events/a.parquet", [{"id": 5}])
    client_id, pem = azure_https.login.app_with_certificate()
    _, stranger = self_signed("not-registered")
    lake.hidden = (pem.split("-----END PRIVATE KEY-----")[0], stranger.split("-----END")[0])
    lake.fields = dict(FIELDS)
    fields = {"client_certificate": "az-cert", "secret_az-client": client_id}
    ctx = _context(tmp_path / "ok", lake, azure_https.ca, **fields, **{"secret_az-cert": pem})
    assert main(ctx) == 0
    assert read_all(ctx.out)[0]["id"].to_list() == [5]
    logs = capfd.readouterr()
    written = _written(tmp_path) + (logs.out + logs.err).encode()
    for value in (*lake.hidden, *lake.issued):
        assert value.encode() not in written

    bad = fields | {"secret_az-cert": stranger}
    message = _one_line_failure(
        _context(tmp_path / "other", lake, azure_https.ca, **bad), capfd, lake
    )
    assert (
        "AADSTS700027: The certificate with identifier used to sign the client assertion is "
        "not registered on application ***" in message
    )

    ctx = _context(tmp_path / "junk", lake, azure_https.ca, **fields, **{"secret_az-cert": "junk"})
    message = _one_line_failure(ctx, capfd, lake)
    assert "client_certificate: the secret must hold the app certificate's private key" in message


def test_an_unreachable_login_host_is_one_line_in_seconds(
    tmp_path: Path, lake: Lake, azure_https: AzureHttps, capfd: pytest.CaptureFixture[str]
) -> None:
    import time

    lake.put("events/a.parquet", [{"id": 1}])
    closed = f"https://127.0.0.1:{free_port()}"
    ctx = _context(tmp_path, lake, azure_https.ca, **{"secret_az-login": closed})
    started = time.monotonic()
    message = _one_line_failure(ctx, capfd, lake)
    assert time.monotonic() - started < 10
    assert "cannot connect to the login host *** for a token: Cannot connect to host" in message
    assert "cannot reach the store" in message


def test_an_account_key_over_https_trusts_the_ca_file(
    tmp_path: Path, azure_https: AzureHttps, capfd: pytest.CaptureFixture[str]
) -> None:
    """ca_file reaches the key path too (a connection string naming the HTTPS endpoint), and
    without it the store's certificate is not trusted."""
    from tests.cloudstores import AZURITE_ACCOUNT

    writer = azure_https.writer
    container = f"lake-{uuid.uuid4().hex[:10]}"
    writer.mkdir(container)
    lake = Lake(
        "az",
        container,
        writer,
        {
            "az-name": AZURITE_ACCOUNT,
            "az-key": AZURITE_KEY,
            "az-endpoint": azure_https.store.endpoint,
        },
        {"account_name": "az-name", "account_key": "az-key", "endpoint_url": "az-endpoint"},
        (AZURITE_KEY,),
    )
    lake.put("events/a.parquet", [{"id": 4}])
    ctx = _context(tmp_path / "ok", lake, azure_https.ca)
    assert main(ctx) == 0
    assert read_all(ctx.out)[0]["id"].to_list() == [4]
    message = _one_line_failure(_context(tmp_path / "untrusted", lake, None), capfd, lake)
    assert "certificate verify failed" in message and "not trusted or names another host" in message
    writer.rm(container)
