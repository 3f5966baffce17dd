"""How declared secrets become each object store's options. GCS's and Azure's mapping is
checked as data here (no test reads them end to end yet); S3's is also exercised end to end against
moto's server in test_read_s3.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.ingest import main
from lockgate.stages.ingest.config import IngestConfigError, parse_ingest_config
from lockgate.stages.ingest.object_stores import (
    filesystem_options,
    isolated_aws_session,
    store_for,
)
from tests.stages.ingest.conftest import stage_context

GCS = "https://storage.googleapis.com"
FRESH = {"skip_instance_cache": True, "use_listings_cache": False}
S3_LIMITS = {
    "config_kwargs": {"connect_timeout": 5, "read_timeout": 15.0, "retries": {"max_attempts": 1}}
}


@pytest.mark.parametrize(
    ("url", "values", "options"),
    [
        (
            "s3://b/p",
            {
                "access_key_id": "AKIA1",
                "secret_access_key": "s",
                "session_token": "t",
                "endpoint_url": "https://minio.internal:9000",
                "region": "eu-west-3",
            },
            {
                "anon": False,
                "key": "AKIA1",
                "secret": "s",
                "token": "t",
                "endpoint_url": "https://minio.internal:9000",
                "client_kwargs": {"region_name": "eu-west-3"},
            },
        ),
        ("s3a://b/p", {}, {"anon": True}),
        (
            "gs://b/p",
            {"service_account_json": '{"type": "service_account"}', "project": "p1"},
            {"token": {"type": "service_account"}, "project": "p1", "endpoint_url": GCS},
        ),
        (
            "gcs://b/p",
            {"endpoint_url": "http://fake-gcs:4443"},
            {"token": "anon", "endpoint_url": "http://fake-gcs:4443"},
        ),
        (
            "az://c/p",
            {"account_name": "acct", "account_key": "k"},
            {"account_name": "acct", "account_key": "k", "connection_timeout": 5},
        ),
        (
            "abfs://c/p",
            {"account_name": "acct", "sas_token": "sv=1"},
            {"account_name": "acct", "sas_token": "sv=1", "connection_timeout": 5},
        ),
        (
            "abfss://c@acct.dfs.core.windows.net/p",
            {"account_name": "acct", "tenant_id": "t", "client_id": "c", "client_secret": "s"},
            {"account_name": "acct", "tenant_id": "t", "client_id": "c", "client_secret": "s"}
            | {"connection_timeout": 5},
        ),
        (
            "az://c/p",
            {"tenant_id": "t", "client_id": "c", "federated_token": "jwt"}
            | {
                "authority_host": "https://login.microsoftonline.us",
                "endpoint_url": "https://h/a/",
            },
            {"tenant_id": "t", "client_id": "c", "federated_token": "jwt"}
            | {"authority_host": "https://login.microsoftonline.us", "blob_endpoint": "https://h/a"}
            | {"connection_timeout": 5},
        ),
        (
            "az://c/p",
            {"tenant_id": "t", "client_id": "c", "client_certificate": "pem"}
            | {"account_name": "a", "authority_host": "login.microsoftonline.us/"},
            {"tenant_id": "t", "client_id": "c", "client_certificate": "pem"}
            | {"account_name": "a", "authority_host": "https://login.microsoftonline.us"}
            | {"connection_timeout": 5},
        ),
        (
            "az://c/p",
            {"account_name": "public"},
            {"account_name": "public", "anon": True, "connection_timeout": 5},
        ),
        (
            "az://c/p",
            {"account_name": "dev", "account_key": "k", "endpoint_url": "http://h:1/dev/"},
            {
                "connection_string": "DefaultEndpointsProtocol=http;AccountName=dev;"
                "AccountKey=k;BlobEndpoint=http://h:1/dev;",
                "connection_timeout": 5,
            },
        ),
        (
            "az://c/p",
            {"sas_token": "?sv=1&sig=x", "endpoint_url": "https://h/dev"},
            {
                "connection_string": "BlobEndpoint=https://h/dev;SharedAccessSignature=sv=1&sig=x;",
                "connection_timeout": 5,
            },
        ),
    ],
)
def test_each_store_maps_its_declared_fields_and_nothing_else(
    url: str, values: dict[str, str], options: dict[str, Any]
) -> None:
    extra = S3_LIMITS if url.startswith("s3") else {}
    assert filesystem_options(url, values) == options | extra | FRESH


@pytest.mark.parametrize(
    ("url", "values", "message"),
    [
        ("s3://b", {"access_key_id": "a"}, "give both access_key_id and secret_access_key"),
        ("s3://b", {"session_token": "t"}, "session_token needs access_key_id"),
        (
            "s3://b",
            {"key": "a", "secret": "b"},
            "S3 takes no 'key'; its fields are access_key_id, ",
        ),
        ("s3://b", {"profile": "dev"}, "S3 takes no 'profile'"),
        ("gs://b", {"token": "google_default"}, "Google Cloud Storage takes no 'token'"),
        ("gs://b", {"service_account_json": "{nope"}, "service_account_json: the secret must hold"),
        ("az://c", {"anon": "false"}, "Azure Blob Storage takes no 'anon'"),
        ("az://c", {"client_secret": "s"}, "client_secret needs tenant_id and client_id"),
        ("gs://b", {"service_account_json": "[1]"}, "service_account_json: the secret must hold"),
        (
            "gs://b",
            {"service_account_json": "{}", "access_token": "t"},
            "service_account_json or access_token, not both",
        ),
        ("az://c", {"endpoint_url": "h:1"}, "endpoint_url: give a URL such as https://HOST"),
        (
            "az://c",
            {"connection_string": "x", "endpoint_url": "http://h"},
            "endpoint_url goes with account_key, sas_token or a service principal, not connection",
        ),
        ("az://c", {"federated_token": "t", "client_id": "c"}, "federated_token needs tenant_id"),
        (
            "az://c",
            {"tenant_id": "t", "client_id": "c", "client_secret": "s", "federated_token": "f"},
            "give one of client_secret, client_certificate or federated_token",
        ),
        (
            "az://c",
            {"tenant_id": "t", "client_id": "c", "client_secret": "s", "account_key": "k"},
            r"a service principal \(client_secret\) goes without account_key",
        ),
        ("az://c", {"account_key": "k", "authority_host": "h"}, "authority_host goes with"),
        (
            "az://c",
            {"tenant_id": "t", "client_id": "c", "client_secret": "s"}
            | {"authority_host": "http://login.example"},
            "authority_host: the login host is reached only over HTTPS",
        ),
        (
            "az://c",
            {"tenant_id": "t", "client_id": "c", "client_secret": "s", "endpoint_url": "http://h"},
            "a service principal's token is sent only over HTTPS",
        ),
        ("az://c", {"account_key": "k", "endpoint_url": "http://h"}, "account_key needs"),
    ],
)
def test_a_field_a_store_does_not_take_is_refused(
    url: str, values: dict[str, str], message: str
) -> None:
    """Options that would reach past the declared secrets (a profile, the SDK's default chain)
    cannot be given: only the store's own fields are accepted."""
    with pytest.raises(LockgateError, match=message):
        filesystem_options(url, values)


def test_other_schemes_take_their_options_as_given() -> None:
    assert store_for("memory://x") is None and store_for("file:///x") is None
    assert filesystem_options("memory://x", {"auto_mkdir": False}) == {"auto_mkdir": False}


def test_the_aws_session_reads_no_host_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("aiobotocore", reason="pip install -e '.[ingest-s3]'")
    (tmp_path / "config").write_text("[profile dev]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "dev")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    session = isolated_aws_session()
    assert session.get_config_variable("profile") is None
    assert session.get_config_variable("region") is None
    assert session.get_config_variable("config_file") == os.devnull
    assert session.get_config_variable("credentials_file") == os.devnull
    assert session.get_config_variable("ignore_configured_endpoint_urls") is True
    assert session.full_config == {"profiles": {}}


def test_a_url_that_carries_credentials_is_refused() -> None:
    with pytest.raises(IngestConfigError, match="a s3:// URL carries no credentials"):
        parse_ingest_config({"source": {"files": {"path": "s3://AKIA:secret@bucket/x"}}})
    ok = parse_ingest_config(
        {"source": {"files": {"path": "abfs://c@acct.dfs.core.windows.net/x"}}}
    )
    assert ok.source.files is not None


def test_a_store_whose_package_is_missing_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gcsfs hidden from the import system (installed or not): the stage names the extra."""
    import sys

    monkeypatch.setitem(sys.modules, "gcsfs", None)
    ctx = stage_context(tmp_path, {"source": {"files": {"path": "gs://bucket/x/*.parquet"}}})
    with pytest.raises(LockgateError) as caught:
        main(ctx)
    assert str(caught.value) == (
        "with.source.files.path: reading Google Cloud Storage needs gcsfs: "
        "pip install 'lockgate[ingest-gcs]'"
    )


def test_a_credential_field_the_store_does_not_take_is_refused_when_the_spec_loads() -> None:
    with pytest.raises(IngestConfigError) as caught:
        parse_ingest_config(
            {"source": {"files": {"path": "s3://b/x", "credentials": {"profile": "aws-profile"}}}}
        )
    assert str(caught.value) == (
        "ingest stage with.source.files: S3 takes no 'profile' in credentials; its fields are "
        "access_key_id, secret_access_key, session_token, endpoint_url, region (see docs/ingest.md)"
    )
