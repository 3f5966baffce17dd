"""``encryption: {key: KMS URI}`` through the real CLI and the local executor: the first run
makes a data key through the KMS and keeps it wrapped in ``.lockgate/.lockgate-keys``, a later
run unwraps it and hits the sealed cache, exports carry the wrapped key so the next CI job opens
them, and neither the data, the data key nor the KMS credentials are in anything lockgate
wrote. AWS KMS is moto's server; Vault, Google Cloud KMS and Azure Key Vault are recording
servers on loopback that follow the documented APIs and check authentication (no Vault binary
and no cloud can be reached here)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.engine.azure_kv_server import AzureKeyVaultServer
from tests.engine.gcp_kms_server import GcpKmsServer
from tests.engine.kms_servers import VaultTransitServer, free_port, start_moto
from tests.projects import CliResult, last_record, lockgate, states, write_project

PAYLOAD = "patient-7731,diagnosis=rare-condition"
STAGES = """\
stages:
  extract:
    run: [sh, -c, 'cat data/rows.csv > "$LOCKGATE_OUT/rows.csv"']
    inputs: ["data/*.csv"]
  count:
    run: [sh, -c, 'grep -c diagnosis "$LOCKGATE_IN/extract/rows.csv" > "$LOCKGATE_OUT/n.txt"']
    needs: [extract]
"""
AWS = """\
version: 1
name: sealed
image: {{base: lockgate/debian:bookworm}}
secrets:
  aws-id: {{file: keys/id}}
  aws-secret: {{file: keys/secret}}
  aws-region: {{file: keys/region}}
encryption:
  key: awskms://{endpoint}/alias/lockgate-data
  credentials: {{AWS_ACCESS_KEY_ID: aws-id, AWS_SECRET_ACCESS_KEY: aws-secret, AWS_REGION: aws-region}}
"""
VAULT = """\
version: 1
name: sealed
image: {{base: lockgate/debian:bookworm}}
secrets:
  vault-addr: {{file: keys/addr}}
  vault-token: {{file: keys/token}}
encryption:
  key: hashivault://lockgate
  credentials: {{VAULT_ADDR: vault-addr, VAULT_TOKEN: vault-token}}
"""
GCP = """\
version: 1
name: sealed
image: {{base: lockgate/debian:bookworm}}
secrets:
  gcp-sa: {{file: keys/sa.json}}
  gcp-kms: {{file: keys/kms-endpoint}}
encryption:
  key: gcpkms://{key}
  credentials: {{GOOGLE_SERVICE_ACCOUNT_KEY: gcp-sa, GOOGLE_KMS_ENDPOINT: gcp-kms}}
"""
AZURE = """\
version: 1
name: sealed
image: {{base: lockgate/debian:bookworm}}
secrets:
  az-tenant: {{file: keys/tenant}}
  az-client: {{file: keys/client}}
  az-secret: {{file: keys/secret}}
  az-login: {{file: keys/authority}}
encryption:
  key: azurekms://{host}/data
  credentials:
    AZURE_TENANT_ID: az-tenant
    AZURE_CLIENT_ID: az-client
    AZURE_CLIENT_SECRET: az-secret
    AZURE_AUTHORITY_HOST: az-login
"""
TOKEN = "hvs.run-token-3c2b1a"
Secrets = Callable[[], list[str]]  # what must never be written, as far as the test knows now


@pytest.fixture(params=["awskms", "hashivault", "gcpkms", "azurekms"])
def kms_project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, Secrets]]:
    """A project keyed by the KMS, and the secrets that must never be written anywhere: the
    credentials and, for the clouds, every access token their token endpoint issued."""
    files = {"data/rows.csv": f"{PAYLOAD}\n"}
    if request.param == "awskms":
        pytest.importorskip("boto3", reason="the kms extra: pip install -e '.[kms]'")
        pytest.importorskip("moto", reason="a local AWS KMS: pip install 'moto[server]'")
        proc, moto = start_moto(tmp_path / "moto.log")
        files |= {"keys/id": moto.access_key, "keys/secret": moto.secret_key}
        files["keys/region"] = "us-east-1"
        try:
            yield (
                write_project(tmp_path / "p", AWS.format(endpoint=moto.endpoint) + STAGES, files),
                lambda: [moto.secret_key],
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    elif request.param == "hashivault":
        with VaultTransitServer(TOKEN) as vault:
            files |= {"keys/addr": vault.addr, "keys/token": TOKEN}
            yield write_project(tmp_path / "p", VAULT.format() + STAGES, files), lambda: [TOKEN]
    elif request.param == "gcpkms":
        with GcpKmsServer() as gcp:
            account = gcp.account("lockgate-ci")
            files |= {"keys/sa.json": json.dumps(account), "keys/kms-endpoint": gcp.url}
            pem_lines = account["private_key"].splitlines()[1:-1]  # the key's base64 body
            spec = GCP.format(key=gcp.key("data")) + STAGES
            yield write_project(tmp_path / "p", spec, files), lambda: [*pem_lines, *gcp.tokens]
    else:
        with AzureKeyVaultServer() as azure:
            client_id, secret = azure.client()
            files |= {"keys/tenant": azure.tenant, "keys/client": client_id}
            files |= {"keys/secret": secret, "keys/authority": azure.url}
            spec = AZURE.format(host=azure.host) + STAGES
            yield write_project(tmp_path / "p", spec, files), lambda: [secret, *azure.tokens]


def _run(root: Path, *args: str) -> CliResult:
    return lockgate("run", "--executor", "local", *args, cwd=root)


def _written(root: Path) -> list[Path]:
    """Everything lockgate wrote: its state and the exports (not the project's own inputs)."""
    folders = [root / ".lockgate", root / "artifacts"]
    return [
        p for f in folders if f.exists() for p in f.rglob("*") if p.is_file() and not p.is_symlink()
    ]


def test_a_kms_keyed_project_runs_caches_exports_and_leaks_nothing(
    kms_project: tuple[Path, Secrets],
) -> None:
    root, secrets = kms_project
    first = _run(root, "--export-dir", "artifacts")
    assert first.code == 0, first.stderr
    assert states(last_record(root)) == {"extract": "ok", "count": "ok"}
    (record,) = (root / ".lockgate" / ".lockgate-keys").glob("*.json")
    key_id = json.loads(record.read_text())["key_id"]
    for meta in (root / ".lockgate" / "cache").glob("*/entry.json"):
        assert json.loads(meta.read_text())["encryption"]["key_id"] == key_id
    assert (root / "artifacts" / ".lockgate-keys" / record.name).read_text() == record.read_text()

    again = _run(root)  # a later run: the data key is unwrapped, the sealed entries hit
    assert again.code == 0, again.stderr
    assert states(last_record(root)) == {"extract": "cached", "count": "cached"}

    # the next CI job: a fresh checkout with nothing but the exported artifacts
    shutil.rmtree(root / ".lockgate")
    later = _run(root, "--stage", "count", "--only", "--upstream-dir", "artifacts")
    assert later.code == 0, later.stderr
    assert states(last_record(root)) == {"count": "ok"}
    assert len(list((root / ".lockgate" / ".lockgate-keys").glob("*.json"))) == 1  # its own

    leaks = secrets()
    assert leaks  # the credentials, and the tokens the runs were issued
    for path in _written(root):
        data = path.read_bytes()
        assert b"patient-7731" not in data, path
        for secret in leaks:
            assert secret.encode() not in data, path
    printed = first.stdout + first.stderr + again.stdout + again.stderr
    printed += later.stdout + later.stderr
    for secret in leaks:
        assert secret not in printed


def test_a_kms_that_cannot_be_reached_stops_the_run_before_anything_is_written(
    kms_project: tuple[Path, Secrets],
) -> None:
    root, secrets = kms_project
    spec = root / "lockgate.yaml"
    if "hashivault" in spec.read_text():
        (root / "keys" / "addr").write_text(f"http://127.0.0.1:{free_port()}")  # nothing there
    elif "gcpkms" in spec.read_text():
        (root / "keys" / "kms-endpoint").write_text(f"http://127.0.0.1:{free_port()}")
    elif "azurekms" in spec.read_text():
        text = re.sub(
            r"azurekms://[^/]+/", f"azurekms://127.0.0.1:{free_port()}/", spec.read_text()
        )
        spec.write_text(text)
    else:
        text = re.sub(r"awskms://[^/]+/", f"awskms://127.0.0.1:{free_port()}/", spec.read_text())
        spec.write_text(text)
    result = _run(root)
    assert result.code != 0 and "Traceback" not in result.stderr
    assert "cannot reach" in result.stderr and "nothing was sealed" in result.stderr
    for secret in secrets():
        assert secret not in result.stdout + result.stderr
    assert not (root / ".lockgate" / "cache").exists() or not any(
        (root / ".lockgate" / "cache").iterdir()
    )


def test_refused_kms_credentials_stop_the_run_with_one_line(
    kms_project: tuple[Path, Secrets],
) -> None:
    root, secrets = kms_project
    spec, keys = (root / "lockgate.yaml").read_text(), root / "keys"
    if "hashivault" in spec:
        (keys / "token").write_text("hvs.not-the-token")
    elif "gcpkms" in spec:  # the account's JSON key, but another private key: a bad signature
        from cryptography.hazmat.primitives import serialization

        from tests.engine.kms_cloud_servers import rsa_key

        account = json.loads((keys / "sa.json").read_text())
        pem = rsa_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (keys / "sa.json").write_text(json.dumps({**account, "private_key": pem.decode()}))
    elif "azurekms" in spec:
        (keys / "secret").write_text("Zx8Q~a-secret-of-no-app")
    else:
        (keys / "secret").write_text("not-the-secret-access-key")
    result = _run(root)
    assert result.code != 0 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "encryption.key" in line]
    assert len(lines) == 1 and re.search(r"denied|refused", lines[0]), result.stderr
    assert "encryption.credentials" in lines[0]
    for secret in secrets():
        assert secret not in result.stdout + result.stderr
    assert not (root / ".lockgate" / ".lockgate-keys").exists()
    for path in _written(root):
        assert b"patient-7731" not in path.read_bytes(), path
