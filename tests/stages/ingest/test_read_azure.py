"""Azure specifics against Azurite: the host's AZURE_* settings are never used, and a container
SAS reads (see test_read_cloud.py for what both stores share)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.ingest import main
from tests.cloudstores import AZURITE_ACCOUNT, AZURITE_KEY, Azurite, free_port
from tests.stages.ingest.test_read_cloud import _azure_lake
from tests.stages.ingest.test_read_postgres import read_all
from tests.stages.ingest.test_read_s3 import _written


def test_the_hosts_azure_settings_are_never_used(
    tmp_path: Path, azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A valid connection string and account key in the environment do not reach a stage that
    declares no credential (Azurite refuses it), and a hostile one does not disturb a stage
    that declares its own."""
    lake = next(_azure_lake(azurite))
    lake.put("events/a.parquet", [{"id": 1}])
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", AZURITE_ACCOUNT)
    anonymous = {
        "source": {
            "files": {
                "path": f"az://{lake.bucket}/events/*.parquet",
                "credentials": {"endpoint_url": "az-endpoint"},
            }
        }
    }
    with pytest.raises(LockgateError, match="no credentials were declared"):
        main(lake.context(tmp_path, anonymous, "anon"))

    hostile = f"BlobEndpoint=http://127.0.0.1:{free_port()}/x;AccountName=x;AccountKey=eA=="
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", hostile)
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", "sv=2020&sig=hostile")
    ctx = lake.context(tmp_path, lake.source("events/*.parquet"), "declared")
    assert main(ctx) == 0
    assert read_all(ctx.out)[0]["id"].to_list() == [1]


def test_a_sas_token_reads_a_container(tmp_path: Path, azurite: Azurite) -> None:
    lake = next(_azure_lake(azurite))
    lake.put("events/a.csv", [{"id": 1}, {"id": 2}])
    sas = azurite.container_sas(lake.bucket)
    with_ = {
        "source": {
            "files": {
                "path": f"abfs://{lake.bucket}/events/*.csv",
                "credentials": {"sas_token": "az-sas", "endpoint_url": "az-endpoint"},
            }
        }
    }
    ctx = lake.context(tmp_path, with_)
    (ctx.secrets_dir / "az-sas").write_text(sas)
    assert main(ctx) == 0
    assert sorted(read_all(ctx.out)[0]["id"].to_list()) == [1, 2]
    assert sas.split("sig=")[1].encode() not in _written(tmp_path)
