"""``encryption.stage_credentials: minted`` on the host, against moto's server (IAM
authentication on): lockgate assumes ``encryption.role_arn`` with a session policy allowing
``kms:Decrypt`` and ``kms:GenerateDataKey`` on the key's ARN, and hands out only what STS
returned.

What moto checks, and what it does not (moto 5.2): it implements ``AssumeRole``, recognises the
session credentials it returns under IAM authentication, and checks the *role's* identity
policies by action (``Resource`` is matched only as ``*``). It records the session policy but
does not evaluate it: so the session policy's effect (a role allowed more is narrowed to the two
calls on the one key) is not proved here, only that STS receives exactly that policy. moto's
``GetFederationToken`` returns a fixed example credential, ignores the policy, and its own IAM
authentication refuses that credential; lockgate does not use it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.errors import LockgateError
from lockgate.spec.keys import MINTED
from tests.engine.kms_servers import MotoKms, assumed_roles, free_port, start_moto
from tests.projects import last_record, lockgate, write_project

AWS_MINTED = MINTED["awskms://"]


@pytest.fixture
def moto_role(tmp_path: Path) -> Iterator[MotoKms]:
    pytest.importorskip("boto3", reason="the kms extra: pip install -e '.[kms]'")
    pytest.importorskip("moto", reason="a local AWS KMS: pip install 'moto[server]'")
    proc, kms = start_moto(tmp_path / "moto.log", role=True)
    yield kms
    proc.terminate()
    proc.wait(timeout=10)


def _client(service: str, kms: MotoKms, key_id: str, secret: str, token: str | None = None) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=kms.url,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
    )


def test_minted_credentials_are_a_role_session_limited_to_the_two_calls_on_the_key(
    moto_role: MotoKms,
) -> None:
    from botocore.exceptions import ClientError

    from lockgate.engine.kms.aws_sts import RoleMinter

    kms = moto_role
    host = {"AWS_ACCESS_KEY_ID": kms.access_key, "AWS_SECRET_ACCESS_KEY": kms.secret_key}
    uri = f"awskms://{kms.endpoint}/alias/lockgate-data"
    minter = RoleMinter(uri, {**host, "AWS_REGION": "us-east-1"}, kms.role_arn, kms.endpoint, None)
    minted = minter.mint("lockgate-p-pull", 960)
    assert kms.secret_key not in repr(minted) and minted.secret_access_key not in repr(minted)
    assert minted.access_key_id != kms.access_key and minted.session_token
    assert minted.region == "us-east-1"

    (session,) = assumed_roles(kms)
    assert session["role_arn"] == kms.role_arn
    assert session["session_name"] == "lockgate-p-pull"
    assert session["access_key_id"] == minted.access_key_id
    assert session["secret_access_key"] == minted.secret_access_key
    assert session["session_token"] == minted.session_token
    # the alias was looked up: the policy names the key's ARN, and only the two calls
    assert json.loads(session["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": kms.key_arn,
            }
        ],
    }

    stage = _client(
        "kms", kms, minted.access_key_id, minted.secret_access_key, minted.session_token
    )
    made = stage.generate_data_key(KeyId="alias/lockgate-data", KeySpec="AES_256")
    assert stage.decrypt(CiphertextBlob=made["CiphertextBlob"])["Plaintext"] == made["Plaintext"]
    # moto refuses these by the role's policy (see the module's docstring); the host's
    # long-lived user may encrypt
    with pytest.raises(ClientError, match="AccessDenied"):
        stage.encrypt(KeyId=kms.other_key_arn, Plaintext=b"x")
    s3 = _client("s3", kms, minted.access_key_id, minted.secret_access_key, minted.session_token)
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.list_buckets()
    long_lived = _client("kms", kms, kms.access_key, kms.secret_key)
    assert long_lived.encrypt(KeyId=kms.other_key_arn, Plaintext=b"x")["KeyId"]
    # a session token the STS never issued is refused
    with pytest.raises(ClientError, match=r"InvalidClientTokenId|InvalidToken|security token"):
        _client("kms", kms, minted.access_key_id, minted.secret_access_key, "forged").decrypt(
            CiphertextBlob=made["CiphertextBlob"]
        )


def test_sts_refusing_to_mint_is_one_line(moto_role: MotoKms) -> None:
    from lockgate.engine.kms.aws_sts import RoleMinter

    kms = moto_role
    outsider = {
        "AWS_ACCESS_KEY_ID": kms.denied_access_key,
        "AWS_SECRET_ACCESS_KEY": kms.denied_secret_key,
        "AWS_REGION": "us-east-1",
    }
    uri = f"awskms://{kms.endpoint}/{kms.key_arn}"  # an ARN: no DescribeKey needed
    minter = RoleMinter(uri, outsider, kms.role_arn, kms.endpoint, None)
    with pytest.raises(LockgateError) as caught:
        minter.mint("lockgate-p-pull", 900)
    message = str(caught.value)
    assert message.startswith(
        f"encryption.stage_credentials: STS refused AssumeRole on {kms.role_arn} (AccessDenied"
    ), message
    assert "sts:AssumeRole" in message and "\n" not in message
    assert kms.denied_secret_key not in message
    assert assumed_roles(kms) == []


def test_an_sts_that_cannot_be_reached_is_one_line(moto_role: MotoKms) -> None:
    from lockgate.engine.kms.aws_sts import RoleMinter

    kms = moto_role
    host = {
        "AWS_ACCESS_KEY_ID": kms.access_key,
        "AWS_SECRET_ACCESS_KEY": kms.secret_key,
        "AWS_REGION": "us-east-1",
    }
    closed = f"127.0.0.1:{free_port()}"  # nothing listens there
    minter = RoleMinter(f"awskms://{kms.endpoint}/{kms.key_arn}", host, kms.role_arn, closed, None)
    with pytest.raises(LockgateError) as caught:
        minter.mint("lockgate-p-pull", 900)
    assert str(caught.value) == (
        f"encryption.stage_credentials: cannot reach STS at http://{closed}: check "
        "encryption.sts_endpoint and the network; the stage was not started"
    )


def test_session_lasts_the_stage_timeout_within_sts_bounds() -> None:
    from lockgate.engine.kms.aws_sts import session_name, session_seconds

    assert session_seconds(None) == 3600  # no timeout: STS's default session
    assert session_seconds(60) == 900  # STS's minimum
    assert session_seconds(1200) == 1260  # the timeout and a minute to start the container
    assert session_seconds(86_400) == 43_200  # STS's maximum
    assert session_name("p" * 80, "x") == ("lockgate-" + "p" * 80)[:64]
    assert session_name("my pipe", "fit/1") == "lockgate-my-pipe-fit-1"


MINTED_SPEC = """\
version: 1
name: minted
image: {{base: python:3.11-slim}}
secrets:
  aws-id: {{env: LG_TEST_KMS_ID}}
  aws-secret: {{env: LG_TEST_KMS_SECRET}}
encryption:
  key: awskms://{endpoint}/{key}
  credentials: {{AWS_ACCESS_KEY_ID: aws-id, AWS_SECRET_ACCESS_KEY: aws-secret}}
  stage_credentials: minted
  role_arn: {role}
  sts_endpoint: {endpoint}
stages:
  pull:
    uses: lockgate/ingest
    with: {{source: {{files: {{path: raw.csv}}}}, mode: stream}}
"""


@pytest.fixture
def moto_plain(tmp_path: Path) -> Iterator[MotoKms]:
    """moto whose sealer may use the key, but may not assume a role."""
    pytest.importorskip("boto3", reason="the kms extra: pip install -e '.[kms]'")
    pytest.importorskip("moto", reason="a local AWS KMS: pip install 'moto[server]'")
    proc, kms = start_moto(tmp_path / "moto.log")
    yield kms
    proc.terminate()
    proc.wait(timeout=10)


def test_a_run_whose_credentials_may_not_mint_fails_the_stage_in_one_line(
    tmp_path: Path, moto_plain: MotoKms
) -> None:
    """The local executor (the minting happens on the host whatever the executor); the host's
    credentials may use the key (kms:*) but not sts:AssumeRole."""
    kms = moto_plain
    role = "arn:aws:iam::123456789012:role/lockgate-stage"
    spec = MINTED_SPEC.format(endpoint=kms.endpoint, key=kms.key_arn, role=role)
    root = write_project(tmp_path / "p", spec, {"raw.csv": "a,b\n1,2\n"})
    env = {"LG_TEST_KMS_ID": kms.access_key, "LG_TEST_KMS_SECRET": kms.secret_key}
    result = lockgate("run", "--executor", "local", cwd=root, env=env, timeout=300)
    assert result.code != 0, result.stdout + result.stderr
    (stage,) = last_record(root)["stages"]
    assert stage["state"] == "failed"
    assert stage["reason"].startswith(
        f"encryption.stage_credentials: STS refused AssumeRole on {role} (AccessDenied"
    ), stage["reason"]
    assert "\n" not in stage["reason"] and stage["reason"] in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert kms.secret_key not in result.stdout + result.stderr
    assert assumed_roles(kms) == []


@pytest.mark.parametrize(
    ("encryption", "where", "says"),
    [
        (
            "key: hashivault://k\n  credentials: {VAULT_ADDR: s, VAULT_TOKEN: s}\n"
            "  stage_credentials: minted",
            "9:22: encryption.stage_credentials",
            "minted Vault tokens need vault_policies",
        ),
        (
            "key: awskms:///alias/k\n  credentials: {AWS_ACCESS_KEY_ID: s, "
            "AWS_SECRET_ACCESS_KEY: s}\n  stage_credentials: minted",
            "9:22: encryption.stage_credentials",
            "minted credentials need role_arn",
        ),
        (
            "key: awskms:///alias/k\n  credentials: {AWS_ACCESS_KEY_ID: s, "
            "AWS_SECRET_ACCESS_KEY: s}\n  role_arn: arn:aws:iam::123456789012:role/r",
            "9:13: encryption.role_arn",
            "only used with stage_credentials: minted",
        ),
        (
            "key: awskms:///alias/k\n  credentials: {AWS_ACCESS_KEY_ID: s, "
            "AWS_SECRET_ACCESS_KEY: s}\n  stage_credentials: minted\n  role_arn: lockgate-stage",
            "10:13: encryption.role_arn",
            "expected arn:aws:iam::ACCOUNT:role/NAME",
        ),
        (
            "key: hashivault://k\n  credentials: {VAULT_ADDR: s, VAULT_TOKEN: s}\n"
            "  stage_credentials: minted\n  vault_policies: []",
            "10:19: encryption.vault_policies",
            "name at least one policy",
        ),
        (
            "key: hashivault://k\n  credentials: {VAULT_ADDR: s, VAULT_TOKEN: s}\n"
            "  stage_credentials: minted\n  vault_policies: [root]",
            "10:19: encryption.vault_policies",
            "'root': expected the name of a Vault ACL policy other than root",
        ),
        (
            "key: hashivault://k\n  credentials: {VAULT_ADDR: s, VAULT_TOKEN: s}\n"
            "  vault_policies: [p]",
            "9:19: encryption.vault_policies",
            "only used with stage_credentials: minted",
        ),
        (
            "key: awskms:///alias/k\n  credentials: {AWS_ACCESS_KEY_ID: s, "
            "AWS_SECRET_ACCESS_KEY: s}\n  stage_credentials: minted\n  vault_policies: [p]",
            "10:19: encryption.vault_policies",
            "only used with hashivault:// keys",
        ),
        (
            "key: hashivault://k\n  credentials: {VAULT_ADDR: s, VAULT_TOKEN: s}\n"
            "  stage_credentials: minted\n  vault_policies: [p]\n"
            "  role_arn: arn:aws:iam::123456789012:role/r",
            "11:13: encryption.role_arn",
            "only used with awskms:// keys",
        ),
        (
            "key: azurekms://v.vault.azure.net/k\n  credentials: {AZURE_TENANT_ID: s, "
            "AZURE_CLIENT_ID: s, AZURE_CLIENT_SECRET: s}\n  stage_credentials: minted\n"
            "  service_account: a@p.iam.gserviceaccount.com",
            "10:20: encryption.service_account",
            "only used with gcpkms:// keys",
        ),
        (
            "key: gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k\n  credentials: "
            "{GOOGLE_SERVICE_ACCOUNT_KEY: s}\n  stage_credentials: minted\n"
            "  service_account: lockgate-stage",
            "10:20: encryption.service_account",
            "expected a service account's email, NAME@PROJECT.iam.gserviceaccount.com",
        ),
        (
            "key: s\n  stage_credentials: minted",
            "8:22: encryption.stage_credentials",
            "minted credentials are for a KMS key",
        ),
        (
            "key: awskms:///alias/k\n  credentials: {AWS_ACCESS_KEY_ID: s, "
            "AWS_SECRET_ACCESS_KEY: s}\n  stage_credentials: lent-ish",
            "9:22: encryption.stage_credentials",
            "",
        ),
    ],
)
def test_minting_settings_are_checked_where_they_are_written(
    tmp_path: Path, encryption: str, where: str, says: str
) -> None:
    from lockgate.spec.loader import load_spec

    spec = tmp_path / "lockgate.yaml"
    spec.write_text(
        "version: 1\nname: p\nimage: {base: python:3.11-slim}\nsecrets:\n  s: {env: S}\n"
        f"encryption:\n  {encryption}\n"
        'stages:\n  a: {run: ["true"]}\n'
    )
    with pytest.raises(LockgateError) as caught:
        load_spec(spec)
    assert str(caught.value).startswith(f"{spec}:{where}"), str(caught.value)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_minted_stage_is_given_the_minted_files_names_and_no_lent_secret(tmp_path: Path) -> None:
    from lockgate.engine import plancache
    from lockgate.engine.digests import FileDigests
    from lockgate.engine.plan import build_plan
    from lockgate.spec.loader import load_spec

    spec = tmp_path / "lockgate.yaml"
    body = MINTED_SPEC.format(
        endpoint="kms.internal:8443",
        key="alias/k",
        role="arn:aws:iam::123456789012:role/lockgate-stage",
    )
    spec.write_text(body.replace("credentials: {", "credentials: {AWS_REGION: aws-id, "))
    pipeline = load_spec(spec)
    built = build_plan(pipeline, tmp_path)
    # the compiled-plan cache keeps it all: a re-run with an unchanged spec loads it from there
    plancache.save(tmp_path / "plan.json", "k", built, pipeline)
    cached = plancache.load(tmp_path / "plan.json", "k", FileDigests(None))
    assert cached is not None
    for plan in (built, cached[0]):
        (pull,) = plan.stages
        assert pull.minted_credentials and pull.secrets == ()
        assert json.loads(dict(pull.env)["LOCKGATE_ENCRYPTION_CREDENTIALS"]) == AWS_MINTED
        assert dict(pull.env)["LOCKGATE_ENCRYPTION_MINTED"] == "1"  # said, not inferred
        assert plan.encryption_role == "arn:aws:iam::123456789012:role/lockgate-stage"
        assert plan.select(["pull"]).encryption_sts == "kms.internal:8443"


TRAIN_SPEC = """\
version: 1
name: minted-local
image: {{base: lockgate/debian:bookworm}}
secrets:
  aws-id: {{env: LG_TEST_KMS_ID}}
  aws-secret: {{env: LG_TEST_KMS_SECRET}}
  aws-region: {{env: LG_TEST_KMS_REGION}}
encryption:
  key: awskms://{endpoint}/alias/lockgate-data
  credentials: {{AWS_ACCESS_KEY_ID: aws-id, AWS_SECRET_ACCESS_KEY: aws-secret, AWS_REGION: aws-region}}
  stage_credentials: minted
  role_arn: {role}
  sts_endpoint: {endpoint}
stages:
  prepare:
    run: [python3, prepare.py]
    inputs: [prepare.py]
  fit:
    uses: lockgate/train
    needs: [prepare]
    inputs: [model.py]
    with:
      entrypoint: "model:build"
      data: {{train: in:prepare/train.csv, target: label}}
      epochs: 1
      checkpoint_every: 2
      seed: 1
      device: cpu
      tracking: "off"
"""
PREPARE = """\
import os
rows = ["a,b,label"] + [f"{i % 7},{i % 3},{i % 2}" for i in range(64)]
open(os.path.join(os.environ["LOCKGATE_OUT"], "train.csv"), "w").write("\\n".join(rows) + "\\n")
"""
# code the user runs inside train: it reads (and prints) what its secrets folder holds
MODEL = """\
import os
from pathlib import Path

def build(ctx):
    from torch import nn
    from lockgate.stages.train import TrainPlan

    folder = Path(os.environ["LOCKGATE_SECRETS"])
    print("given:", sorted(p.name for p in folder.iterdir()), flush=True)
    print("token:", (folder / "minted-aws-session-token").read_text(), flush=True)
    return TrainPlan(model=nn.Linear(ctx.data.n_features, ctx.data.n_classes))
"""


def test_the_local_executor_gives_train_a_minted_session_masked_in_its_lines(
    tmp_path: Path, moto_role: MotoKms
) -> None:
    """Code the user runs inside train sees the minted files only, and what it prints of them
    is masked in the stage's lines and its sealed log."""
    kms = moto_role
    spec = TRAIN_SPEC.format(endpoint=kms.endpoint, role=kms.role_arn)
    root = write_project(tmp_path / "p", spec, {"prepare.py": PREPARE, "model.py": MODEL})
    env = {
        "LG_TEST_KMS_ID": kms.access_key,
        "LG_TEST_KMS_SECRET": kms.secret_key,
        "LG_TEST_KMS_REGION": "us-east-1",
    }
    result = lockgate("run", "--executor", "local", cwd=root, env=env, timeout=600)
    assert result.code == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (session,) = assumed_roles(kms)
    assert session["session_name"] == "lockgate-minted-local-fit"
    checkpoints = list((root / ".lockgate" / "state" / "train" / "fit").rglob("step-*.pt"))
    assert checkpoints and all(p.read_bytes().startswith(b"LGSEAL") for p in checkpoints)
    shown = lockgate("log", "fit", cwd=root, env=env)
    assert shown.code == 0, shown.stderr
    given = sorted(AWS_MINTED.values())
    assert f"given: {given}" in shown.stdout and "token: ***" in shown.stdout, shown.stdout
    leaks = [kms.secret_key, session["secret_access_key"], session["session_token"]]
    for text in (shown.stdout, result.stdout + result.stderr):
        assert not [v for v in leaks if v in text]
    for path in (root / ".lockgate").rglob("*"):
        if path.is_file():
            assert not [v for v in leaks if v.encode() in path.read_bytes()], path


def test_whether_credentials_are_minted_is_said_never_inferred_from_their_names(
    tmp_path: Path,
) -> None:
    """A stage told its credentials are minted checks them as the minted set; one not told so
    checks the same names as declared secrets, even when they look like minted files."""
    from lockgate.engine.sealing import Sealer, SealError

    uri = "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k"
    minted = {
        "GOOGLE_ACCESS_TOKEN": "minted-google-access-token",
        "GOOGLE_ACCESS_TOKEN_EXPIRY": "minted-google-access-token-expiry",
    }

    def resolve(creds: dict[str, str], *, told: bool) -> None:
        Sealer.resolve(uri, lambda n: "", Path, store=tmp_path, credentials=creds, minted=told)

    with pytest.raises(SealError, match="GOOGLE_ACCESS_TOKEN is not a gcpkms credential"):
        resolve(minted, told=False)
    partial = {"GOOGLE_ACCESS_TOKEN": "minted-google-access-token"}
    with pytest.raises(SealError, match="minted credentials for gcpkms are GOOGLE_ACCESS_TOKEN"):
        resolve(partial, told=True)
    # a stage lent the declared credentials: no such variable in its environment
    from lockgate.engine.plan import build_plan
    from lockgate.spec.loader import load_spec

    spec = tmp_path / "lockgate.yaml"
    body = MINTED_SPEC.format(endpoint="kms.internal:8443", key="alias/k", role="x")
    lent = "".join(
        line
        for line in body.splitlines(keepends=True)
        if not line.strip().startswith(("stage_credentials", "role_arn", "sts_endpoint"))
    )
    spec.write_text(lent)
    (stage,) = build_plan(load_spec(spec), tmp_path).stages
    assert not stage.minted_credentials
    assert "LOCKGATE_ENCRYPTION_MINTED" not in dict(stage.env)
    assert "LOCKGATE_ENCRYPTION_CREDENTIALS" in dict(stage.env)
