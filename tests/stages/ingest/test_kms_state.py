"""The ingest stage's state sealed under a KMS key: the stage makes its own data key through
the KMS (here Vault's transit API and Google Cloud KMS, answered by the recording servers of the
engine tests: no Vault binary and no cloud can be reached here), keeps it wrapped in its state folder, and a later run
unwraps it and reads its dataset back. No token or key is in anything the stage writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.contract import ENV_ENCRYPTION_CREDENTIALS, ENV_ENCRYPTION_KEY
from lockgate.stages.context import StageContext
from lockgate.stages.ingest import main
from tests.engine.kms_servers import VaultTransitServer, as_a_new_process
from tests.stages.ingest.conftest import stage_context

TOKEN = "hvs.ingest-token-77aa"
WITH = {"source": {"files": {"path": "raw"}}, "mode": "stream"}


@pytest.fixture
def vault() -> Iterator[VaultTransitServer]:
    with VaultTransitServer(TOKEN) as server:
        yield server


def _context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vault: VaultTransitServer, run: str, day: str
) -> StageContext:
    import polars as pl

    monkeypatch.setenv(ENV_ENCRYPTION_KEY, "hashivault://lockgate")
    creds = {"VAULT_ADDR": "vault-addr", "VAULT_TOKEN": "vault-token"}
    monkeypatch.setenv(ENV_ENCRYPTION_CREDENTIALS, json.dumps(creds))
    ctx = stage_context(tmp_path, WITH, run=run)
    (ctx.secrets_dir / "vault-addr").write_text(vault.addr + "\n")
    (ctx.secrets_dir / "vault-token").write_text(TOKEN + "\n")
    folder = ctx.workspace / "raw" / f"day={day}"
    folder.mkdir(parents=True)
    pl.DataFrame({"id": [1, 2], "secret_col": ["alpha-row", "beta-row"]}).write_parquet(
        folder / "p.parquet"
    )
    return ctx


def test_ingest_state_sealed_under_a_vault_wrapped_data_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vault: VaultTransitServer
) -> None:
    import polars as pl

    assert main(_context(tmp_path, monkeypatch, vault, "1", "2024-05-01")) == 0
    state = tmp_path / "state"
    (record,) = (state / ".lockgate-keys").glob("*.json")
    key_id = json.loads(record.read_text())["key_id"]
    sealed = state / "ingest" / "ingest" / "journal.json.sealed"
    assert sealed.read_bytes()[8 : 8 + 16].hex() == key_id  # sealed under that key
    assert not sealed.with_name("journal.json").exists()
    as_a_new_process(monkeypatch)  # each run of the stage is its own process
    assert main(_context(tmp_path, monkeypatch, vault, "2", "2024-05-02")) == 0
    assert [r["path"] for r in vault.requests] == [
        "/v1/transit/datakey/plaintext/lockgate",  # run 1: a fresh data key
        "/v1/transit/decrypt/lockgate",  # run 2: the same one, unwrapped once
    ]
    frames = [pl.read_parquet(p) for p in sorted((tmp_path / "out-2" / "data").glob("*.parquet"))]
    assert sum(f.height for f in frames) == 4
    for path in [*state.rglob("*"), *(tmp_path / "out-2").rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert TOKEN.encode() not in data, path
            if "state" in path.parts:
                assert b"alpha-row" not in data, path


def test_ingest_state_sealed_under_a_cloud_kms_wrapped_data_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stage's own process signs the service account's assertion, gets a token and has
    Cloud KMS (the recording server of the engine tests) wrap and later unwrap its data key."""
    import polars as pl

    from tests.engine.gcp_kms_server import GcpKmsServer

    with GcpKmsServer() as gcp:
        account = gcp.account("ingest")
        monkeypatch.setenv(ENV_ENCRYPTION_KEY, f"gcpkms://{gcp.key('data')}")
        creds = {"GOOGLE_SERVICE_ACCOUNT_KEY": "gcp-sa", "GOOGLE_KMS_ENDPOINT": "gcp-kms"}
        monkeypatch.setenv(ENV_ENCRYPTION_CREDENTIALS, json.dumps(creds))
        for run, day in (("1", "2024-05-01"), ("2", "2024-05-02")):
            as_a_new_process(monkeypatch)  # each run of the stage is its own process
            ctx = stage_context(tmp_path, WITH, run=run)
            (ctx.secrets_dir / "gcp-sa").write_text(json.dumps(account, indent=2) + "\n")
            (ctx.secrets_dir / "gcp-kms").write_text(gcp.url + "\n")
            folder = ctx.workspace / "raw" / f"day={day}"
            folder.mkdir(parents=True)
            frame = pl.DataFrame({"id": [1, 2], "secret_col": ["alpha-row", "beta-row"]})
            frame.write_parquet(folder / "p.parquet")
            assert main(ctx) == 0
        key = gcp.key("data")
        assert [r["path"] for r in gcp.requests] == [
            "/token",
            f"/v1/{key}:encrypt",  # run 1: a fresh data key, wrapped
            "/token",
            f"/v1/{key}:decrypt",  # run 2: the same one, unwrapped once
        ]
        leaks = [*gcp.tokens, *account["private_key"].splitlines()[1:-1]]
    frames = [pl.read_parquet(p) for p in sorted((tmp_path / "out-2" / "data").glob("*.parquet"))]
    assert sum(f.height for f in frames) == 4
    state = tmp_path / "state"
    for path in [*state.rglob("*"), *(tmp_path / "out-2").rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert not any(secret.encode() in data for secret in leaks), path
            if "state" in path.parts:
                assert b"alpha-row" not in data, path
