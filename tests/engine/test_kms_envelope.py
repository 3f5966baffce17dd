"""One KMS client per process per KMS URI and credentials, however many stores it seals: the
requests are counted on the recording servers of the KMS tests (Google Cloud KMS's token
endpoint and ``decrypt``, Azure Key Vault's identity platform and ``unwrapkey``; no cloud can be
reached where these tests run, see tests/engine/kms_cloud_servers.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lockgate.engine.sealing import Sealer
from tests.engine.azure_kv_server import AzureKeyVaultServer
from tests.engine.gcp_kms_server import GcpKmsServer
from tests.engine.kms_servers import as_a_new_process


@pytest.fixture
def gcp() -> Iterator[GcpKmsServer]:
    with GcpKmsServer() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def azure() -> Iterator[AzureKeyVaultServer]:
    with AzureKeyVaultServer() as server:
        yield server  # type: ignore[misc]


def _gcp_sealer(gcp: GcpKmsServer, account: dict[str, str]) -> Callable[[Path], Sealer]:
    values = {"sa": json.dumps(account), "endpoint": gcp.url}
    creds = {"GOOGLE_SERVICE_ACCOUNT_KEY": "sa", "GOOGLE_KMS_ENDPOINT": "endpoint"}
    uri = f"gcpkms://{gcp.key('data')}"
    return lambda store: Sealer.resolve(
        uri, values.__getitem__, Path, store=store, credentials=creds
    )


def _stores(tmp_path: Path, sealer_of: Callable[[Path], Sealer]) -> tuple[Path, Path, Path]:
    """Two stores with their own data keys, and an export folder carrying the first's."""
    project, state, export = tmp_path / ".lockgate", tmp_path / "state", tmp_path / "export"
    first = sealer_of(project)
    sealer_of(state)
    first.keep_beside(export)
    (export / "part").write_bytes(first.seal(b"rows", "part"))
    return project, state, export


def test_several_stores_in_one_process_ask_for_one_token_and_each_data_key_once(
    gcp: GcpKmsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sealer_of = _gcp_sealer(gcp, gcp.account("sealer"))
    project, state, export = _stores(tmp_path, sealer_of)
    key = gcp.key("data")
    paths = [r["path"] for r in gcp.requests]
    assert paths == ["/token", f"/v1/{key}:encrypt", f"/v1/{key}:encrypt"]  # one token

    as_a_new_process(monkeypatch)
    gcp.requests.clear()
    sealers = [sealer_of(store) for store in (project, state, project, state)]
    opened = sealers[0].open((export / "part").read_bytes(), "part", str(export / "part"))
    assert opened == b"rows"
    assert {s.key_id for s in sealers} == {sealers[0].key_id, sealers[1].key_id}
    # one token, and each data key unwrapped once: the export's is the project's
    paths = [r["path"] for r in gcp.requests]
    assert paths == ["/token", f"/v1/{key}:decrypt", f"/v1/{key}:decrypt"]


def test_other_credentials_get_their_own_client(
    gcp: GcpKmsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sharing never lends one account's data keys to another: a second service account asks
    the KMS itself, and one without the role is refused although the first holds the key."""
    first = _gcp_sealer(gcp, gcp.account("sealer"))
    first(tmp_path / "store")
    other = _gcp_sealer(gcp, gcp.account("other"))
    assert other(tmp_path / "store").key == first(tmp_path / "store").key
    assert [r["path"] for r in gcp.requests].count("/token") == 2
    denied = _gcp_sealer(gcp, gcp.account("denied", allowed=False))
    with pytest.raises(Exception, match="PERMISSION_DENIED"):
        denied(tmp_path / "store")


def test_azure_several_stores_ask_for_one_token(
    azure: AzureKeyVaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = azure.client()
    values = {"t": azure.tenant, "c": client[0], "s": client[1], "a": azure.url}
    creds = {
        "AZURE_TENANT_ID": "t",
        "AZURE_CLIENT_ID": "c",
        "AZURE_CLIENT_SECRET": "s",
        "AZURE_AUTHORITY_HOST": "a",
    }
    uri = f"azurekms://{azure.host}/data"

    def sealer_of(store: Path) -> Sealer:
        return Sealer.resolve(uri, values.__getitem__, Path, store=store, credentials=creds)

    project, state, _ = _stores(tmp_path, sealer_of)
    as_a_new_process(monkeypatch)
    azure.requests.clear()
    for store in (project, state, project, state):
        sealer_of(store)
    paths = [r["path"].split("?")[0] for r in azure.requests]
    assert paths[0] == f"/{azure.tenant}/oauth2/v2.0/token" and paths.count(paths[0]) == 1
    assert len(paths) == 3 and all(p.endswith("/unwrapkey") for p in paths[1:])
