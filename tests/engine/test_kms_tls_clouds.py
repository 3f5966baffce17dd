"""Cloud KMS, Key Vault and Vault over TLS, trusted through ``encryption.ca_file``. The
recording servers (tests/engine/gcp_kms_server.py, azure_kv_server.py, kms_servers.py) serve
HTTPS only, their token endpoints included, on an address of this machine that is not loopback
(so lockgate must speak HTTPS: a Key Vault there is always ``https://``, and an ``http://`` URL
for Google's endpoints, the identity platform or Vault is refused), with a certificate from a CA made
for the test. A data key is wrapped and, by a later process, unwrapped through each.

Then each address lockgate dials is pointed in turn at a trap that records whatever it reads: a
certificate from another CA, a certificate from the trusted CA for another host name, and a
plain-HTTP server. Each is one line naming the service and what to check; the trap reads no
request (no token, client secret, signed assertion or data key reaches it), and nothing is
written to the store, not even a wrapped key."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lockgate.engine.sealing import Sealer, SealError
from tests.engine.azure_kv_server import AzureKeyVaultServer
from tests.engine.gcp_kms_server import GcpKmsServer
from tests.engine.kms_cloud_servers import Answer, RecordingServer
from tests.engine.kms_servers import ServerTls, VaultTransitServer, as_a_new_process
from tests.engine.tls_ca import host_address, make_tls

VAULT_TOKEN = "hvs.tls-clouds-token"


@pytest.fixture(scope="module")
def host() -> str:
    address = host_address()
    if address is None:
        pytest.skip(reason="this machine has no address but loopback, where HTTP is allowed")
    return address


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory, host: str) -> ServerTls:
    return make_tls(tmp_path_factory.mktemp("tls"), host)


@pytest.fixture(scope="module")
def gcp(host: str, tls: ServerTls) -> Iterator[GcpKmsServer]:
    with GcpKmsServer(host=host, tls=tls) as server:
        yield server  # type: ignore[misc]


@pytest.fixture(scope="module")
def azure(host: str, tls: ServerTls) -> Iterator[AzureKeyVaultServer]:
    with AzureKeyVaultServer(host=host, tls=tls) as server:
        yield server  # type: ignore[misc]


@pytest.fixture(scope="module")
def vault(host: str, tls: ServerTls) -> Iterator[VaultTransitServer]:
    with VaultTransitServer(VAULT_TOKEN, tls=tls, host=host) as server:
        yield server


class Trap(RecordingServer):
    """Records any request it reads; none should come."""

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        return 500, {}


@pytest.fixture(scope="module")
def traps(
    tmp_path_factory: pytest.TempPathFactory, host: str, tls: ServerTls
) -> Iterator[dict[str, Trap]]:
    folder = tmp_path_factory.mktemp("traps")
    kinds = {
        "untrusted CA": make_tls(folder / "other", host),
        "another host name": make_tls(folder / "wrong", "kms.example.internal", issuer=tls),
        "plain HTTP": None,
    }
    servers = {name: Trap(host, cert) for name, cert in kinds.items()}
    for server in servers.values():
        server.__enter__()
    try:
        yield servers
    finally:
        for server in servers.values():
            server.__exit__()


def _resolve(uri: str, values: dict[str, str], store: Path, ca: Path) -> Sealer:
    credentials = {name: name for name in values}
    return Sealer.resolve(
        uri, values.__getitem__, Path, store=store, credentials=credentials, ca_file=str(ca)
    )


def _gcp_sealer(
    gcp: GcpKmsServer, store: Path, ca: Path, *, endpoint: str = "", token_uri: str = ""
) -> Sealer:
    account = gcp.account("tls")
    if token_uri:
        account["token_uri"] = token_uri
    values = {
        "GOOGLE_SERVICE_ACCOUNT_KEY": json.dumps(account),
        "GOOGLE_KMS_ENDPOINT": endpoint or gcp.url,
    }
    return _resolve(f"gcpkms://{gcp.key('data')}", values, store, ca)


def _azure_sealer(
    azure: AzureKeyVaultServer, store: Path, ca: Path, *, vault: str = "", authority: str = ""
) -> Sealer:
    client_id, secret = azure.client()
    values = {
        "AZURE_TENANT_ID": azure.tenant,
        "AZURE_CLIENT_ID": client_id,
        "AZURE_CLIENT_SECRET": secret,
        "AZURE_AUTHORITY_HOST": authority or azure.url,
    }
    return _resolve(f"azurekms://{vault or azure.host}/data", values, store, ca)


def _vault_sealer(vault: VaultTransitServer, store: Path, ca: Path, *, addr: str = "") -> Sealer:
    values = {"VAULT_ADDR": addr or vault.addr, "VAULT_TOKEN": VAULT_TOKEN}
    return _resolve("hashivault://lockgate", values, store, ca)


def test_cloud_kms_and_its_token_endpoint_over_tls_seal_and_open(
    gcp: GcpKmsServer, tls: ServerTls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert gcp.url.startswith("https://") and not gcp.host.startswith("127.")
    gcp.requests.clear()
    first = _gcp_sealer(gcp, tmp_path / "store", tls.ca)
    sealed = first.seal(b"rows over tls", "part-0")
    as_a_new_process(monkeypatch)
    again = _gcp_sealer(gcp, tmp_path / "store", tls.ca)
    assert again.key_id == first.key_id
    assert again.open(sealed, "part-0", "part-0") == b"rows over tls"
    key = gcp.key("data")
    paths = [r["path"] for r in gcp.requests]
    assert paths == ["/token", f"/v1/{key}:encrypt", "/token", f"/v1/{key}:decrypt"]


def test_key_vault_and_the_identity_platform_over_tls_seal_and_open(
    azure: AzureKeyVaultServer, tls: ServerTls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert azure.url.startswith("https://") and not azure.host.startswith("127.")
    azure.requests.clear()
    first = _azure_sealer(azure, tmp_path / "store", tls.ca)
    (record,) = (tmp_path / "store").rglob(".lockgate-keys/*.json")
    (version,) = azure.keys["data"]
    assert json.loads(record.read_text())["kms_key"] == f"https://{azure.host}/keys/data/{version}"
    sealed = first.seal(b"rows over tls", "part-0")
    as_a_new_process(monkeypatch)
    again = _azure_sealer(azure, tmp_path / "store", tls.ca)
    assert again.open(sealed, "part-0", "part-0") == b"rows over tls"
    token = f"/{azure.tenant}/oauth2/v2.0/token"
    assert [r["path"] for r in azure.requests] == [
        token,
        "/keys/data/wrapkey?api-version=7.4",
        token,
        f"/keys/data/{version}/unwrapkey?api-version=7.4",
    ]


def test_vault_on_an_address_that_is_not_loopback_seals_and_opens_over_tls(
    vault: VaultTransitServer, tls: ServerTls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert vault.addr.startswith("https://") and "127.0.0.1" not in vault.addr
    vault.requests.clear()
    first = _vault_sealer(vault, tmp_path / "store", tls.ca)
    as_a_new_process(monkeypatch)
    assert _vault_sealer(vault, tmp_path / "store", tls.ca).key == first.key
    assert [r["path"].split("/")[3] for r in vault.requests] == ["datakey", "decrypt"]


# what each refusal says: the service that was dialled, then why
SERVICES = {
    ("gcp", "token endpoint"): "cannot reach Google's token endpoint https://",
    ("gcp", "KMS"): "cannot reach Cloud KMS at https://",
    ("azure", "token endpoint"): "cannot reach the Microsoft identity platform at https://",
    ("azure", "KMS"): "cannot reach Key Vault at https://",
    ("vault", "KMS"): "cannot reach Vault at https://",
}
WHY = {
    "untrusted CA": "TLS: the server's certificate is not trusted: unable to get local issuer",
    "another host name": "TLS: the server's certificate is not trusted: ",
    "plain HTTP": "TLS handshake failed: ",
}


def _dial(
    kind: str, target: str, servers: dict[str, RecordingServer | VaultTransitServer]
) -> Callable[[Path, Path, str], Sealer]:
    """How to build a sealer of ``kind`` whose ``target`` is at ``address`` (host:port)."""
    gcp, azure, vault = servers["gcp"], servers["azure"], servers["vault"]
    assert isinstance(gcp, GcpKmsServer) and isinstance(azure, AzureKeyVaultServer)
    assert isinstance(vault, VaultTransitServer)
    if kind == "gcp":
        if target == "KMS":
            return lambda store, ca, at: _gcp_sealer(gcp, store, ca, endpoint=f"https://{at}")
        return lambda store, ca, at: _gcp_sealer(gcp, store, ca, token_uri=f"https://{at}/token")
    if kind == "azure":
        if target == "KMS":
            return lambda store, ca, at: _azure_sealer(azure, store, ca, vault=at)
        return lambda store, ca, at: _azure_sealer(azure, store, ca, authority=f"https://{at}")
    return lambda store, ca, at: _vault_sealer(vault, store, ca, addr=f"https://{at}")


@pytest.mark.parametrize("situation", list(WHY))
@pytest.mark.parametrize(("kind", "target"), list(SERVICES))
def test_an_untrusted_or_misnamed_or_plain_server_is_one_line_and_hears_nothing(
    kind: str,
    target: str,
    situation: str,
    gcp: GcpKmsServer,
    azure: AzureKeyVaultServer,
    vault: VaultTransitServer,
    traps: dict[str, Trap],
    tls: ServerTls,
    tmp_path: Path,
) -> None:
    trap = traps[situation]
    trap.requests.clear()
    sealer = _dial(kind, target, {"gcp": gcp, "azure": azure, "vault": vault})
    with pytest.raises(SealError) as caught:
        sealer(tmp_path / "store", tls.ca, trap.host)
    message = str(caught.value)
    assert "\n" not in message, message
    assert SERVICES[kind, target] in message and WHY[situation] in message, message
    if situation == "plain HTTP":
        assert "is it an HTTPS server?" in message, message
    else:
        assert "check encryption.ca_file" in message and "host name" in message, message
    if situation == "another host name":
        assert "kms.example.internal" in message or "IP address mismatch" in message, message
    assert trap.requests == []  # the handshake failed: nothing was sent, no plaintext retry
    assert not (tmp_path / "store").exists()  # nothing sealed, no wrapped key


@pytest.mark.parametrize(
    "setting", ["GOOGLE_KMS_ENDPOINT", "token_uri", "AZURE_AUTHORITY_HOST", "VAULT_ADDR"]
)
def test_an_http_url_at_an_address_that_is_not_loopback_is_refused_unsent(
    setting: str,
    gcp: GcpKmsServer,
    azure: AzureKeyVaultServer,
    vault: VaultTransitServer,
    traps: dict[str, Trap],
    tls: ServerTls,
    tmp_path: Path,
) -> None:
    trap = traps["plain HTTP"]
    trap.requests.clear()
    plain, store = f"http://{trap.host}", tmp_path / "store"
    with pytest.raises(SealError) as caught:
        if setting == "GOOGLE_KMS_ENDPOINT":
            _gcp_sealer(gcp, store, tls.ca, endpoint=plain)
        elif setting == "token_uri":
            _gcp_sealer(gcp, store, tls.ca, token_uri=f"{plain}/token")
        elif setting == "AZURE_AUTHORITY_HOST":
            _azure_sealer(azure, store, tls.ca, authority=plain)
        else:  # the token would travel in a header, in plaintext
            _vault_sealer(vault, store, tls.ca, addr=plain)
    message = str(caught.value)
    assert setting in message and "must be an https:// URL (http only on loopback)" in message
    assert "\n" not in message and trap.requests == [] and not store.exists()
