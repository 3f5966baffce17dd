"""``encryption.stage_credentials: minted`` with a streaming ingest in a container (the Docker
executor, a real engine): the container reaches AWS KMS itself (moto's server, HTTPS only on the
Docker bridge's gateway, IAM authentication on) with short-lived role credentials lockgate
minted for it, never with the long-lived ones lockgate.yaml names.

The watcher inspects the container while it exists: its secrets mount holds exactly the four
minted files, whose values are the session moto's STS handed out (read from moto's own state:
role, session name and the session policy naming only ``kms:Decrypt`` and ``kms:GenerateDataKey``
on the key's ARN); its environment names those files and holds no value. The container's
``GenerateDataKey`` succeeded under IAM authentication, so it used that session. Afterwards the
long-lived access key and secret, the session's secret and token and the data key are grepped for
in everything lockgate wrote, in the host's temporary folders and in the CLI's output.

moto checks a role session's calls against the role's own policy, by action only; it keeps the
session policy without evaluating it (see test_kms_minting). So that the minted credentials are
refused another key or another service is shown here only as far as the role's policy says so."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bridge import bridge_gateway
from tests.engine.kms_servers import MotoKms, ServerTls, assumed_roles, start_moto
from tests.engine.test_kms_docker_runs import Watcher, held_nowhere
from tests.engine.test_kms_tls_docker_runs import _from_containers, _partition
from tests.engine.tls_ca import make_tls
from tests.projects import last_record, lockgate, states, write_project

SPEC = """\
version: 1
name: minted-ctr
image: {{base: {base}, requirements: requirements.txt}}
secrets:
  aws-id: {{env: LG_TEST_KMS_ID}}
  aws-secret: {{env: LG_TEST_KMS_SECRET}}
  aws-region: {{env: LG_TEST_KMS_REGION}}
encryption:
  key: awskms://{endpoint}/alias/lockgate-data
  credentials: {{AWS_ACCESS_KEY_ID: aws-id, AWS_SECRET_ACCESS_KEY: aws-secret, AWS_REGION: aws-region}}
  ca_file: tls/ca.pem
  stage_credentials: minted
  role_arn: {role}
  sts_endpoint: {endpoint}
stages:
  pull:
    uses: lockgate/ingest
    timeout: 1200
    with:
      source: {{files: {{path: raw}}}}
      mode: stream
      transform: [{{drop: [day]}}]
      output: {{compression: uncompressed}}
"""
REQUIREMENTS = "polars>=1.20\npyarrow>=14\nboto3\ncryptography\n"
MINTED_FILES = {
    "minted-aws-access-key-id",
    "minted-aws-secret-access-key",
    "minted-aws-session-token",
    "minted-aws-region",
}


@pytest.fixture
def role_moto(
    tmp_path: Path, docker_client: Any
) -> Iterator[tuple[MotoKms, ServerTls, Callable[[], int]]]:
    pytest.importorskip("boto3", reason="the kms extra: pip install -e '.[kms]'")
    pytest.importorskip("moto", reason="a local AWS KMS: pip install 'moto[server]'")
    gateway, subnet = bridge_gateway(docker_client)
    tls = make_tls(tmp_path / "tls", gateway)
    proc, kms = start_moto(tmp_path / "moto.log", gateway, tls, role=True)
    try:
        yield kms, tls, lambda: _from_containers(tmp_path / "moto.log", gateway, subnet)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.docker
def test_an_ingest_container_gets_only_a_minted_role_session(
    tmp_path: Path,
    role_moto: tuple[MotoKms, ServerTls, Callable[[], int]],
    base_image: str,
    docker_client: Any,
) -> None:
    import boto3

    kms, tls, container_calls = role_moto
    started = time.time()
    spec = SPEC.format(base=base_image, endpoint=kms.endpoint, role=kms.role_arn)
    root = write_project(
        tmp_path / "p", spec, {"requirements.txt": REQUIREMENTS, "tls/ca.pem": tls.ca.read_text()}
    )
    data = _partition(root, "2024-05-01", 32, 7)
    env = {
        "LG_TEST_KMS_ID": kms.access_key,
        "LG_TEST_KMS_SECRET": kms.secret_key,
        "LG_TEST_KMS_REGION": "us-east-1",
    }
    with Watcher(docker_client, root) as watch:
        result = lockgate("run", "--executor", "docker", cwd=root, env=env, timeout=1500)
    assert result.code == 0, result.stderr[-4000:]
    assert states(last_record(root)) == {"pull": "ok"}
    assert (
        len(list((root / ".lockgate" / "state" / "ingest" / "pull").rglob("*.parquet.sealed"))) == 1
    )

    (session,) = assumed_roles(kms)  # one attempt, one session
    assert session["role_arn"] == kms.role_arn
    assert session["session_name"] == "lockgate-minted-ctr-pull"
    assert json.loads(session["policy"])["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": kms.key_arn,
        }
    ]
    # the container made its state folder's data key itself, under IAM authentication
    assert container_calls() == 1

    (container,) = watch.seen.values()
    files = container["secret_files"]
    assert set(files) == MINTED_FILES, files
    assert files["minted-aws-access-key-id"].decode() == session["access_key_id"]
    assert files["minted-aws-secret-access-key"].decode() == session["secret_access_key"]
    assert files["minted-aws-session-token"].decode() == session["session_token"]
    assert files["minted-aws-region"].decode() == "us-east-1"
    told = "\n".join(container["env"])
    credentials = json.loads(told.split("LOCKGATE_ENCRYPTION_CREDENTIALS=", 1)[1].split("\n")[0])
    assert set(credentials.values()) == MINTED_FILES
    assert not [n for n in container["env"] if n.startswith("AWS_")]
    assert not Path(container["mounts"]["/run/secrets"]).exists()  # gone with the stage

    # the state folder's data key, unwrapped by the test with the long-lived user
    (record,) = (root / ".lockgate" / "state").rglob(".lockgate-keys/*.json")
    client = boto3.client(
        "kms",
        endpoint_url=kms.url,
        region_name="us-east-1",
        aws_access_key_id=kms.access_key,
        aws_secret_access_key=kms.secret_key,
        verify=kms.verify,
    )
    wrapped = base64.b64decode(json.loads(record.read_text())["wrapped"])
    key = bytes(client.decrypt(CiphertextBlob=wrapped)["Plaintext"])
    long_lived = [kms.secret_key.encode(), kms.access_key.encode()]
    leaks = [*long_lived, session["secret_access_key"].encode(), session["session_token"].encode()]
    leaks += [key, key.hex().encode(), base64.b64encode(key)]
    assert not [v for v in leaks if v in told.encode()]
    assert not [v for v in long_lived if v in b"".join(files.values())]

    needles = [data, *leaks]
    assert held_nowhere(needles, root / ".lockgate", since=started) > 5
    output = (result.stdout + result.stderr).encode()
    assert not [v for v in leaks if v in output]
