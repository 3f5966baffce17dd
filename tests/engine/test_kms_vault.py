"""Envelope encryption through Vault's transit engine. No Vault binary can be installed where
these tests run: they talk to a small HTTP server that answers the two transit endpoints as
Vault's API documents them (tests/engine/kms_servers.py) and records every request, so what
lockgate sends is checked, not only what it receives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.engine.sealing import Sealer, SealError
from tests.engine.kms_servers import VaultTransitServer, as_a_new_process, free_port

TOKEN = "hvs.test-token-0f9e8d7c6b5a"


@pytest.fixture
def vault() -> Iterator[VaultTransitServer]:
    with VaultTransitServer(TOKEN) as server:
        yield server


def _sealer(uri: str, store: Path, addr: str, token: str = TOKEN) -> Sealer:
    values = {"addr": addr, "token": token}
    creds = {"VAULT_ADDR": "addr", "VAULT_TOKEN": "token"}
    return Sealer.resolve(uri, values.__getitem__, Path, store=store, credentials=creds)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_a_data_key_from_transit_is_kept_wrapped_and_unwrapped_once(
    vault: VaultTransitServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _sealer("hashivault://lockgate", tmp_path, vault.addr)
    (record_path,) = _files(tmp_path)
    record = json.loads(record_path.read_text())
    assert record["kms"] == "hashivault://lockgate" and record["kms_key"] == "lockgate"
    assert record["wrapped"].startswith("vault:v1:")
    raw = record_path.read_bytes()
    assert first.key.hex().encode() not in raw and TOKEN.encode() not in raw
    sealed = first.seal(b"rows", "part")
    as_a_new_process(monkeypatch)  # a later run
    again = _sealer("hashivault://lockgate", tmp_path, vault.addr)
    assert again.key == first.key
    assert again.open(sealed, "part", str(tmp_path / "part")) == b"rows"
    paths = [r["path"] for r in vault.requests]
    assert paths == ["/v1/transit/datakey/plaintext/lockgate", "/v1/transit/decrypt/lockgate"]
    for request in vault.requests:  # the token goes in its header, nowhere else
        assert request["headers"]["X-Vault-Token"] == TOKEN
        assert TOKEN.encode() not in request["body"] and TOKEN not in request["path"]
    assert json.loads(vault.requests[1]["body"]) == {"ciphertext": record["wrapped"]}


def test_a_wrong_token_is_access_denied_and_nothing_is_written(
    vault: VaultTransitServer, tmp_path: Path
) -> None:
    with pytest.raises(SealError) as err:
        _sealer("hashivault://lockgate", tmp_path / "s", vault.addr, token="hvs.wrong-token")
    assert str(err.value) == (
        "encryption.key (hashivault://lockgate): Vault denied transit/datakey/plaintext on key "
        "'lockgate' (403 permission denied): check VAULT_TOKEN in encryption.credentials and "
        "its policy"
    )
    assert _files(tmp_path / "s") == []


def test_an_unknown_transit_key_is_named(vault: VaultTransitServer, tmp_path: Path) -> None:
    with pytest.raises(
        SealError, match=r"Vault has no transit key 'absent' \(400 encryption key not found\)"
    ):
        _sealer("hashivault://absent", tmp_path / "s", vault.addr)
    assert _files(tmp_path / "s") == []


def test_an_unreachable_vault_is_one_message(tmp_path: Path) -> None:
    addr = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SealError, match=rf"cannot reach Vault at {addr} \(.*\): check VAULT_ADDR"):
        _sealer("hashivault://lockgate", tmp_path / "s", addr)
    assert _files(tmp_path / "s") == []


def test_a_data_key_wrapped_by_another_transit_key(
    vault: VaultTransitServer, tmp_path: Path
) -> None:
    data = _sealer("hashivault://lockgate", tmp_path, vault.addr)
    sealed = tmp_path / "part.sealed"
    sealed.write_bytes(data.seal(b"rows", "part"))
    other = _sealer("hashivault://other", tmp_path / "b", vault.addr)
    with pytest.raises(
        SealError,
        match=r"wrapped by hashivault://lockgate, but encryption.key is hashivault://other",
    ):
        other.open(sealed.read_bytes(), "part", str(sealed))
    # a record edited to name the other key: Vault's decrypt fails to authenticate it
    (path,) = (tmp_path / ".lockgate-keys").glob("*.json")
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "kms": "hashivault://other", "kms_key": "other"}))
    fresh = _sealer("hashivault://other", tmp_path / "c", vault.addr)
    with pytest.raises(
        SealError,
        match=r"Vault key 'other' cannot unwrap the data key \(400 cipher: message authentication failed\): it was wrapped by another key or altered",
    ):
        fresh.open(sealed.read_bytes(), "part", str(sealed))
