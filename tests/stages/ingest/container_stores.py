"""A gs:// or az:// store for the container ingest tests (test_cloud_docker.py): a bucket or
container, the spec that reads it with a batch and a stream stage, the secrets the spec declares
and the values that must never be written, and the checks made on the containers and the host.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.azure_https import AzureHttps
from tests.cloudstores import AZURITE_ACCOUNT, AZURITE_KEY, Azurite, GcsEmulator
from tests.engine.test_kms_docker_runs import Watcher
from tests.jwt_keys import FederatedIssuer
from tests.leaks import written_since
from tests.projects import CliResult, lockgate, write_project
from tests.stages.ingest.test_s3_pipeline import IMAGE_REQUIREMENTS as REQUIREMENTS

SPEC = """\
version: 1
name: cloud-ctr
image: {{base: {base}, requirements: requirements.txt}}
secrets:
{secrets}
stages:
  full:
    uses: lockgate/ingest
    secrets: [{full_secrets}]
    with:
      source: {{files: {{path: '{url}/events', credentials: {full}{full_ca}}}}}
  stream:
    uses: lockgate/ingest
    secrets: [{stream_secrets}]
    with:
      source: {{files: {{path: '{url}/events', credentials: {stream}{stream_ca}}}}}
      mode: stream
"""
# the host's own settings: none may reach a stage container
AMBIENT = {
    "GOOGLE_APPLICATION_CREDENTIALS": "/ambient/adc.json",
    "GOOGLE_CLOUD_PROJECT": "ambient-project",
    "CLOUDSDK_CONFIG": "/ambient/gcloud",
    "GCE_METADATA_HOST": "169.254.169.254",
    "STORAGE_EMULATOR_HOST": "http://ambient-emulator:9023",
    "AZURE_STORAGE_ACCOUNT_KEY": "YW1iaWVudC1hY2NvdW50LWtleQ==",
    "AZURE_STORAGE_SAS_TOKEN": "sv=2020&sig=ambient-sas",
    "AZURE_CLIENT_SECRET": "ambient-client-secret",
    "AZURE_TENANT_ID": "00000000-0000-4000-8000-00000000a3b1",
    "AZURE_CLIENT_ID": "00000000-0000-4000-8000-00000000c1d2",
    "AZURE_AUTHORITY_HOST": "https://ambient-login.example",
    "AZURE_FEDERATED_TOKEN_FILE": "/ambient/azure-token",
    "AZURE_CLIENT_CERTIFICATE_PATH": "/ambient/azure-cert.pem",
}
# the host's CA bundles (set by a test to files that exist): none may reach a stage container
CA_SETTINGS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "AWS_CA_BUNDLE")
STAGES = ("full", "stream")
HOST_SETTINGS = re.compile(
    r"^(GOOGLE_|GCE_|CLOUDSDK_|STORAGE_EMULATOR_HOST|GCSFS_|AZURE_|SSL_CERT_|REQUESTS_CA_BUNDLE"
    r"|CURL_CA_BUNDLE|AWS_CA_BUNDLE)"
)


@dataclass
class Store:
    """One bucket or container, the secrets a spec declares for it and what must stay hidden."""

    scheme: str
    bucket: str
    fs: Any
    secrets: dict[str, str]  # secret name -> value
    full: dict[str, str]  # the batch stage's credential fields -> secret names
    stream: dict[str, str]  # the stream stage's
    hidden: list[str]  # values that must appear in no file, log or container environment
    granted: list[str]  # access tokens granted so far (GCS, Entra ID), hidden as well
    cas: dict[str, str] = dataclasses.field(
        default_factory=dict
    )  # stage -> the PEM its ca_file holds

    def put(self, key: str, ids: list[int]) -> None:
        import polars as pl

        buf = io.BytesIO()
        pl.DataFrame({"id": ids}).write_parquet(buf)
        self.fs.pipe(f"{self.bucket}/{key}", buf.getvalue())

    def project(
        self, root: Path, base_image: str, requirements: str = REQUIREMENTS
    ) -> tuple[Path, dict[str, str]]:
        """The project folder and the CLI's environment (the secrets' values, and the host
        settings that must not reach a stage)."""
        env_names = {name: "LG_" + name.upper().replace("-", "_") for name in self.secrets}

        def names(fields: dict[str, str]) -> str:
            return ", ".join(sorted(set(fields.values())))

        spec = SPEC.format(
            base=base_image,
            secrets="\n".join(f"  {n}: {{env: {e}}}" for n, e in env_names.items()),
            url=f"{self.scheme}://{self.bucket}",
            full=json.dumps(self.full),
            stream=json.dumps(self.stream),
            full_secrets=names(self.full),
            stream_secrets=names(self.stream),
            **{f"{s}_ca": f", ca_file: certs/{s}.pem" if s in self.cas else "" for s in STAGES},
        )
        files = {f"certs/{stage}.pem": pem for stage, pem in self.cas.items()}
        root = write_project(root, spec, {"requirements.txt": requirements, **files})
        env = {e: self.secrets[n] for n, e in env_names.items()}
        return root, env | AMBIENT | self.ambient()

    def ambient(self) -> dict[str, str]:
        if self.scheme == "gs":
            return {}
        # a connection string that would read the container, were it to reach the stage
        endpoint = self.secrets["az-endpoint"]
        return {
            "AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=http;AccountName="
            f"{AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"
        }


def gcs_store(emulator: GcsEmulator) -> Iterator[Store]:
    fs = emulator.filesystem()
    bucket = f"ctr-{uuid.uuid4().hex[:10]}"
    fs.mkdir(bucket)
    account = emulator.tokens.service_account(f"reader-{bucket}@lake-project.iam")
    fields = {"service_account_json": "gcs-key", "endpoint_url": "gcs-endpoint"}
    yield Store(
        "gs",
        bucket,
        fs,
        {"gcs-key": json.dumps(account), "gcs-endpoint": emulator.endpoint},
        fields,
        fields,
        [account["private_key"], account["private_key"].splitlines()[1]],
        emulator.tokens.granted,
    )
    fs.rm(bucket, recursive=True)


def azure_store(azurite: Azurite) -> Iterator[Store]:
    fs = azurite.filesystem()
    container = f"ctr-{uuid.uuid4().hex[:10]}"
    fs.mkdir(container)
    sas = azurite.container_sas(container)
    yield Store(
        "az",
        container,
        fs,
        {
            "az-name": AZURITE_ACCOUNT,
            "az-key": AZURITE_KEY,
            "az-sas": sas,
            "az-endpoint": azurite.endpoint,
        },
        {"account_name": "az-name", "account_key": "az-key", "endpoint_url": "az-endpoint"},
        {"sas_token": "az-sas", "endpoint_url": "az-endpoint"},
        [AZURITE_KEY, sas.split("sig=")[1].split("&")[0]],
        [],
    )
    fs.rm(container, recursive=True)


def azure_principal_store(servers: AzureHttps, stream_login: str) -> Iterator[Store]:
    """A container on Azurite over HTTPS, read by new app registrations at the stand-in Entra ID
    endpoint: the batch stage with a client secret, the stream stage with the app's
    ``certificate`` (its private key and certificate, PEM) or a ``federated`` token (a CI
    system's OIDC token the app trusts); both stages trust the servers' CA through ``ca_file``."""
    writer = servers.writer
    container = f"ctr-{uuid.uuid4().hex[:10]}"
    writer.mkdir(container)
    login = servers.login
    secret_client, client_secret = login.app_with_secret()
    if stream_login == "certificate":
        stream_client, stream_secret = login.app_with_certificate()
        key = stream_secret.split("-----END PRIVATE KEY-----")[0]
        hidden = [key, key.splitlines()[1]]  # the private key, and its first line alone
        field_name = "client_certificate"
    else:
        issuer = FederatedIssuer("https://ci.example.test/oidc")
        subject = f"repo:lake/{container}:ref:refs/heads/main"
        stream_client = login.app_with_federation(issuer, subject)
        stream_secret = issuer.token(subject)
        hidden = [stream_secret]
        field_name = "federated_token"
    common = {"tenant_id": "az-tenant", "endpoint_url": "az-endpoint", "authority_host": "az-login"}
    ca = servers.ca.read_text()
    yield Store(
        "az",
        container,
        writer,
        {
            "az-tenant": login.tenant,
            "az-endpoint": servers.store.endpoint,
            "az-login": login.authority(),
            "az-secret-client": secret_client,
            "az-secret": client_secret,
            "az-stream-client": stream_client,
            "az-stream-login": stream_secret,
        },
        common | {"client_id": "az-secret-client", "client_secret": "az-secret"},
        common | {"client_id": "az-stream-client", field_name: "az-stream-login"},
        [client_secret, *hidden],
        login.granted,
        {"full": ca, "stream": ca},
    )
    writer.rm(container)


def project_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def left_on_host(values: list[str], since: float) -> list[Path]:
    """Files written since ``since`` on the host, outside test folders, that hold any of
    ``values`` (see tests/leaks.py)."""
    return written_since([v.encode() for v in values], since)


def check_containers(watcher: Watcher, store: Store, stages: set[str]) -> None:
    """Each stage container got only the secrets its stage declares, as files, and an
    environment without a credential or a host cloud setting."""
    seen = list(watcher.seen.values())
    assert {c["stage"] for c in seen} == stages
    for container in seen:
        env = "\n".join(container["env"])
        assert not [v for v in container["env"] if HOST_SETTINGS.match(v)], env
        for value in [*store.secrets.values(), *store.granted, *AMBIENT.values()]:
            if store.scheme == "az" and value == AZURITE_ACCOUNT:
                continue  # a name, not a credential
            assert value not in env
        fields = store.full if container["stage"] == "full" else store.stream
        assert container["secrets_read"]
        assert set(container["secret_files"]) == set(fields.values())
        for field, name in fields.items():
            lent = container["secret_files"][name].decode().strip()
            assert lent == store.secrets[name].strip(), field


def run_in_containers(root: Path, env: dict[str, str], watcher: Watcher) -> CliResult:
    """``lockgate run`` under the Docker executor, its stage containers watched."""
    with watcher:
        return lockgate(
            "run", "--executor", "docker", "--export-dir", "export", cwd=root, env=env, timeout=900
        )


def exported_manifest(root: Path, stage: str) -> dict[str, Any]:
    return dict(json.loads((root / "export" / stage / "manifest.json").read_text()))


def exported_ids(root: Path, stage: str) -> list[int]:
    import polars as pl

    return sorted(pl.read_parquet(root / "export" / stage / "data" / "*.parquet")["id"].to_list())
