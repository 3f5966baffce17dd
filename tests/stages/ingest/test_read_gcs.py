"""GCS specifics against gcp-storage-emulator: the host's Google settings are never used, and
an access token is sent as is (see test_read_cloud.py for what both stores share)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from lockgate.stages.ingest import main
from tests.cloudstores import GcsEmulator
from tests.stages.ingest.test_read_cloud import _gcs_lake
from tests.stages.ingest.test_read_postgres import read_all
from tests.stages.ingest.test_read_s3 import _written


class Listener:
    """A loopback port that counts the connections made to it (a planted metadata server or
    endpoint): any count above zero means the host's setting was used."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


def test_the_hosts_google_settings_are_never_used(
    tmp_path: Path, gcs_emulator: GcsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Application default credentials, a gcloud config, a metadata server and an emulator
    host planted in the environment: a stage that declares none of them reads anonymously
    from its declared endpoint, and no connection reaches the planted addresses."""
    lake = next(_gcs_lake(gcs_emulator))
    lake.put("events/a.parquet", [{"id": 1}])
    planted = Listener()
    adc = gcs_emulator.tokens.service_account("host@lake-project.iam")
    adc["token_uri"] = f"http://{planted.address}/token"
    (tmp_path / "adc.json").write_text(json.dumps(adc))
    (tmp_path / "gcloud").mkdir()
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "adc.json"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", planted.address)
    monkeypatch.setenv("GCE_METADATA_IP", planted.address)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://{planted.address}")
    granted = len(gcs_emulator.tokens.granted)
    anonymous = {
        "source": {
            "files": {
                "path": f"gs://{lake.bucket}/events/*.parquet",
                "credentials": {"endpoint_url": "gcs-endpoint"},
            }
        }
    }
    started = time.monotonic()
    ctx = lake.context(tmp_path, anonymous, "anon")
    assert main(ctx) == 0  # the emulator serves anonymous reads, as a public bucket does
    assert read_all(ctx.out)[0]["id"].to_list() == [1]
    assert planted.connections == 0 and len(gcs_emulator.tokens.granted) == granted
    assert time.monotonic() - started < 10
    assert "GOOGLE_APPLICATION_CREDENTIALS" in os.environ  # restored after


def test_an_access_token_is_used_as_declared(tmp_path: Path, gcs_emulator: GcsEmulator) -> None:
    """An OAuth2 access token (from a workload's identity, say) is sent as is: gcsfs would
    otherwise ask Google's token-info service for its expiry, which no test host can reach."""
    lake = next(_gcs_lake(gcs_emulator))
    lake.put("events/a.jsonl", [{"id": 7}])
    with_ = {
        "source": {
            "files": {
                "path": f"gcs://{lake.bucket}/events",
                "credentials": {"access_token": "gcs-token", "endpoint_url": "gcs-endpoint"},
            }
        }
    }
    ctx = lake.context(tmp_path, with_)
    (ctx.secrets_dir / "gcs-token").write_text("ya29.test-access-token-0123456789")
    started = time.monotonic()
    assert main(ctx) == 0
    assert time.monotonic() - started < 10
    assert read_all(ctx.out)[0]["id"].to_list() == [7]
    assert b"ya29.test-access-token" not in _written(tmp_path)
