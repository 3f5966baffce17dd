"""Envelope encryption through Azure Key Vault. No cloud can be reached where these tests run:
they talk to a loopback server that answers the identity platform's v2.0 token endpoint and a
vault's ``wrapkey`` / ``unwrapkey`` as Microsoft documents them, checks the client secret and
the bearer token, and really wraps with RSA-OAEP-256 (tests/engine/azure_kv_server.py); every
request is recorded, so what lockgate sends is checked."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.engine.sealing import Sealer, SealError
from tests.engine.azure_kv_server import AzureKeyVaultServer
from tests.engine.kms_servers import as_a_new_process, free_port


@pytest.fixture
def azure() -> Iterator[AzureKeyVaultServer]:
    with AzureKeyVaultServer() as server:
        yield server  # type: ignore[misc]


def _sealer(uri: str, store: Path, tenant: str, client: tuple[str, str], authority: str) -> Sealer:
    values = {"t": tenant, "c": client[0], "s": client[1], "a": authority}
    creds = {
        "AZURE_TENANT_ID": "t",
        "AZURE_CLIENT_ID": "c",
        "AZURE_CLIENT_SECRET": "s",
        "AZURE_AUTHORITY_HOST": "a",
    }
    return Sealer.resolve(uri, values.__getitem__, Path, store=store, credentials=creds)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_a_data_key_wrapped_by_key_vault_is_kept_wrapped_and_unwrapped_once(
    azure: AzureKeyVaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = azure.client()
    uri = f"azurekms://{azure.host}/data"
    first = _sealer(uri, tmp_path, azure.tenant, client, azure.url)
    (record_path,) = _files(tmp_path)
    record = json.loads(record_path.read_text())
    (version,) = azure.keys["data"]
    assert record["kms"] == uri and record["kms_key"] == f"{azure.url}/keys/data/{version}"
    raw = record_path.read_bytes()
    assert first.key.hex().encode() not in raw and client[1].encode() not in raw
    sealed = first.seal(b"rows", "part")
    as_a_new_process(monkeypatch)  # a later run
    again = _sealer(uri, tmp_path, azure.tenant, client, azure.url)
    assert again.key == first.key
    assert again.open(sealed, "part", str(tmp_path / "part")) == b"rows"

    token_path = f"/{azure.tenant}/oauth2/v2.0/token"
    assert [r["path"] for r in azure.requests] == [
        token_path,
        "/keys/data/wrapkey?api-version=7.4",
        token_path,
        f"/keys/data/{version}/unwrapkey?api-version=7.4",
    ]
    form = dict(urllib.parse.parse_qsl(azure.requests[0]["body"].decode()))
    assert form == {
        "grant_type": "client_credentials",
        "client_id": client[0],
        "client_secret": client[1],
        "scope": "https://vault.azure.net/.default",
    }
    issued = list(azure.tokens)
    for call, token in zip(azure.requests[1::2], issued, strict=True):
        assert call["headers"]["Authorization"] == f"Bearer {token}"
        body = json.loads(call["body"])
        assert body["alg"] == "RSA-OAEP-256" and set(body) == {"alg", "value"}
        assert client[1].encode() not in call["body"] and token not in call["path"]
        assert token.encode() not in raw
    assert json.loads(azure.requests[3]["body"])["value"] == record["wrapped"]


def test_a_key_version_in_the_uri_is_the_one_that_wraps(
    azure: AzureKeyVaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (old,) = azure.keys["data"]
    from tests.engine.kms_cloud_servers import rsa_key

    azure.keys["data"]["f" * 32] = rsa_key()  # a newer version is current now
    client = azure.client()
    uri = f"azurekms://{azure.host}/data/{old}"
    first = _sealer(uri, tmp_path, azure.tenant, client, azure.url)
    as_a_new_process(monkeypatch)  # a later run
    assert _sealer(uri, tmp_path, azure.tenant, client, azure.url).key == first.key
    assert [r["path"] for r in azure.requests][1::2] == [
        f"/keys/data/{old}/wrapkey?api-version=7.4",
        f"/keys/data/{old}/unwrapkey?api-version=7.4",
    ]


def test_a_wrong_client_secret_is_bad_credentials(
    azure: AzureKeyVaultServer, tmp_path: Path
) -> None:
    client_id, secret = azure.client()
    wrong = "Zx8Q~wrong-secret-value-000000"
    with pytest.raises(SealError) as err:
        _sealer(
            f"azurekms://{azure.host}/data",
            tmp_path / "s",
            azure.tenant,
            (client_id, wrong),
            azure.url,
        )
    assert str(err.value) == (
        f"encryption.key (azurekms://{azure.host}/data): the Microsoft identity platform refused "
        f"client {client_id} of tenant {azure.tenant} (401 invalid_client: AADSTS7000215: "
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        f"client secret value, not the client secret ID, for a secret added to app '{client_id}'"
        ".): check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET in "
        "encryption.credentials"
    )
    assert wrong not in str(err.value) and secret not in str(err.value)
    assert _files(tmp_path / "s") == []
    assert len(azure.requests) == 1  # never reached the vault


def test_an_unknown_tenant_is_bad_credentials(azure: AzureKeyVaultServer, tmp_path: Path) -> None:
    with pytest.raises(
        SealError,
        match=r"refused client .* \(400 invalid_request: AADSTS90002: "
        r"Tenant 'not-a-tenant' not found",
    ):
        _sealer(
            f"azurekms://{azure.host}/data", tmp_path, "not-a-tenant", azure.client(), azure.url
        )


def test_a_client_without_key_permissions_is_denied(
    azure: AzureKeyVaultServer, tmp_path: Path
) -> None:
    client = azure.client(allowed=False)
    with pytest.raises(
        SealError,
        match=rf"Key Vault {azure.host} denied wrapkey on key data \(403 "
        r"Forbidden: .* does not have keys wrapKey permission .*\): give client "
        rf"{client[0]} the wrapKey and unwrapKey permissions",
    ):
        _sealer(f"azurekms://{azure.host}/data", tmp_path / "s", azure.tenant, client, azure.url)
    assert _files(tmp_path / "s") == []


def test_an_unknown_key_is_named(azure: AzureKeyVaultServer, tmp_path: Path) -> None:
    with pytest.raises(
        SealError,
        match=rf"Key Vault {azure.host} has no key absent \(404 "
        r"KeyNotFound: A key with \(name/id\) absent was not found",
    ):
        _sealer(
            f"azurekms://{azure.host}/absent",
            tmp_path / "s",
            azure.tenant,
            azure.client(),
            azure.url,
        )
    assert _files(tmp_path / "s") == []


def test_unreachable_vault_or_authority_is_one_message(
    azure: AzureKeyVaultServer, tmp_path: Path
) -> None:
    port, client = free_port(), azure.client()
    with pytest.raises(
        SealError,
        match=rf"cannot reach Key Vault at http://127.0.0.1:{port} \(.*\)"
        r": check the vault in encryption.key and the network; nothing was sealed",
    ):
        _sealer(
            f"azurekms://127.0.0.1:{port}/data", tmp_path / "s", azure.tenant, client, azure.url
        )
    with pytest.raises(
        SealError,
        match=r"cannot reach the Microsoft identity platform at "
        rf"http://127.0.0.1:{port} \(.*\): check AZURE_AUTHORITY_HOST",
    ):
        _sealer(
            f"azurekms://{azure.host}/data",
            tmp_path / "s",
            azure.tenant,
            client,
            f"http://127.0.0.1:{port}",
        )
    assert _files(tmp_path / "s") == []


def test_the_client_secret_goes_only_over_tls_off_loopback(
    azure: AzureKeyVaultServer, tmp_path: Path
) -> None:
    with pytest.raises(SealError, match=r"AZURE_AUTHORITY_HOST: 'http://login.example.com' must"):
        _sealer(
            f"azurekms://{azure.host}/data",
            tmp_path,
            azure.tenant,
            azure.client(),
            "http://login.example.com",
        )
    assert azure.requests == []


def test_a_data_key_wrapped_by_another_vault_key(
    azure: AzureKeyVaultServer, tmp_path: Path
) -> None:
    client = azure.client()
    data = _sealer(f"azurekms://{azure.host}/data", tmp_path, azure.tenant, client, azure.url)
    sealed = tmp_path / "part.sealed"
    sealed.write_bytes(data.seal(b"rows", "part"))
    other_uri = f"azurekms://{azure.host}/other"
    other = _sealer(other_uri, tmp_path / "b", azure.tenant, client, azure.url)
    with pytest.raises(
        SealError,
        match=rf"wrapped by azurekms://{azure.host}/data, but "
        rf"encryption.key is {other_uri}",
    ):
        other.open(sealed.read_bytes(), "part", str(sealed))
    # a record edited to name the other key: Key Vault cannot unwrap it with that key
    (path,) = (tmp_path / ".lockgate-keys").glob("*.json")
    record = json.loads(path.read_text())
    (version,) = azure.keys["other"]
    kid = f"{azure.url}/keys/other/{version}"
    path.write_text(json.dumps({**record, "kms": other_uri, "kms_key": kid}))
    fresh = _sealer(other_uri, tmp_path / "c", azure.tenant, client, azure.url)
    with pytest.raises(
        SealError,
        match=r"Key Vault key other cannot unwrap the data key \(400 "
        r"BadParameter: .*\): it was wrapped by another key or altered",
    ):
        fresh.open(sealed.read_bytes(), "part", str(sealed))


def test_a_bare_authority_host_is_spoken_to_over_https(azure: AzureKeyVaultServer) -> None:
    from lockgate.engine.kms.azure import AzureKeyVault

    creds = {"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"}
    vault = AzureKeyVault(
        "azurekms://v.vault.usgovcloudapi.net/k",
        {**creds, "AZURE_AUTHORITY_HOST": "login.microsoftonline.us"},
        "encryption.key",
    )
    assert vault.authority == "https://login.microsoftonline.us"
    assert vault.vault == "https://v.vault.usgovcloudapi.net"
    assert vault.scope == "https://vault.usgovcloudapi.net/.default"
