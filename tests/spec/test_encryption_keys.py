"""``encryption:`` with a KMS key: which URIs wrap a data key, what credentials each needs, and
what the plan hands the stages that seal their state (secret names, never values)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.errors import SpecError
from lockgate.spec.loader import parse_spec

HEAD = """\
version: 1
name: kms
image: {base: lockgate/debian:bookworm}
secrets:
  aws-id: {env: AWS_ID}
  aws-secret: {env: AWS_SECRET}
  vault-token: {env: VT}
"""
STAGES = """\
stages:
  ingest:
    uses: lockgate/ingest
    with: {source: {files: {path: data}}, mode: stream}
  once:
    uses: lockgate/ingest
    with: {source: {files: {path: data/rows.csv}}}
"""


def _spec(encryption: str) -> str:
    return HEAD + encryption + STAGES


def test_an_aws_kms_key_gives_ingest_the_credential_secrets_by_name(tmp_path: Path) -> None:
    from lockgate.contract import ENV_ENCRYPTION_CREDENTIALS, ENV_ENCRYPTION_KEY
    from lockgate.engine.plan import build_plan

    enc = (
        "encryption:\n  key: awskms:///arn:aws:kms:eu-west-1:111122223333:alias/data\n"
        "  credentials: {AWS_ACCESS_KEY_ID: aws-id, AWS_SECRET_ACCESS_KEY: aws-secret}\n"
    )
    plan = build_plan(parse_spec(_spec(enc), "lockgate.yaml"), tmp_path)
    assert plan.encryption_credentials == (
        ("AWS_ACCESS_KEY_ID", "aws-id"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
    )
    ingest, once = plan.stages
    env = dict(ingest.env)
    assert env[ENV_ENCRYPTION_KEY].startswith("awskms:///arn:aws:kms:eu-west-1")
    assert json.loads(env[ENV_ENCRYPTION_CREDENTIALS]) == {
        "AWS_ACCESS_KEY_ID": "aws-id",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
    }
    assert set(ingest.secrets) == {"aws-id", "aws-secret"}
    # a batch ingest keeps nothing in the state folder: the engine seals its output
    assert not {ENV_ENCRYPTION_KEY, ENV_ENCRYPTION_CREDENTIALS} & set(dict(once.env))
    assert once.secrets == ()


@pytest.mark.parametrize(
    ("encryption", "message"),
    [
        (
            "encryption:\n  key: hashivault://data\n  credentials: {VAULT_TOKEN: vault-token}\n",
            "lockgate.yaml:10:16: encryption.credentials: hashivault needs VAULT_ADDR: name the "
            "declared secrets that hold them",
        ),
        (
            "encryption:\n  key: hashivault://data\n  credentials: {VAULT_ADDR: vault-addr, VAULT_TOKEN: vault-token}\n",
            "lockgate.yaml:10:29: encryption.credentials.VAULT_ADDR: secret 'vault-addr' is not "
            "declared under top-level `secrets:`",
        ),
        (
            "encryption:\n  key: awskms:///alias/data\n  credentials: {AWS_KEY: aws-id}\n",
            "encryption.credentials: AWS_KEY is not a awskms credential; use AWS_ACCESS_KEY_ID",
        ),
        (
            "encryption:\n  key: aws-id\n  credentials: {AWS_ACCESS_KEY_ID: aws-id}\n",
            "encryption.credentials: only a KMS key (awskms://, gcpkms://, azurekms://, "
            "hashivault://) takes credentials",
        ),
        (  # malformed cloud KMS URIs are found at load, where the spec writes them
            "encryption:\n  key: gcpkms://projects/p/locations/l/keyRings/r\n"
            "  credentials: {GOOGLE_SERVICE_ACCOUNT_KEY: aws-id}\n",
            "lockgate.yaml:9:8: encryption.key: gcpkms://projects/p/locations/l/keyRings/r: "
            "expected gcpkms://projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY"
            "[/cryptoKeyVersions/VERSION]",
        ),
        (
            "encryption:\n  key: azurekms://myvault.vault.azure.net/keys/data/v1/extra\n",
            "lockgate.yaml:9:8: encryption.key: azurekms://myvault.vault.azure.net/keys/data/v1/"
            "extra: expected azurekms://VAULT_NAME.vault.azure.net/KEY[/VERSION]",
        ),
        (
            "encryption:\n  key: azurekms://myvault.vault.azure.net/data\n"
            "  credentials: {AZURE_TENANT_ID: aws-id, AZURE_CLIENT_ID: aws-id}\n",
            "lockgate.yaml:10:16: encryption.credentials: azurekms needs AZURE_CLIENT_SECRET",
        ),
        (
            "encryption:\n  key: gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k\n"
            "  credentials: {GOOGLE_APPLICATION_CREDENTIALS: aws-id}\n",
            "encryption.credentials: GOOGLE_APPLICATION_CREDENTIALS is not a gcpkms credential; "
            "use GOOGLE_SERVICE_ACCOUNT_KEY, GOOGLE_KMS_ENDPOINT",
        ),
        (
            "encryption:\n  key: k8s://ns/secret\n",
            "lockgate.yaml:9:8: encryption.key: k8s keys cannot encrypt data at rest yet",
        ),
    ],
)
def test_kms_settings_that_cannot_work_are_located_spec_errors(
    encryption: str, message: str
) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(_spec(encryption), "lockgate.yaml")
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("encryption", "expected"),
    [
        (
            "encryption: {key: vault-token}\n",
            {"ingest": False, "once": False, "train": True, "cmd": False},
        ),
        ("", {"ingest": False, "once": False, "train": False, "cmd": False}),
        (
            "encryption:\n  key: hashivault://data\n"
            "  credentials: {VAULT_ADDR: aws-id, VAULT_TOKEN: vault-token}\n",
            {"ingest": False, "once": False, "train": False, "cmd": False},
        ),
    ],
)
def test_only_train_with_a_local_key_is_handed_sealed_inputs(
    tmp_path: Path, encryption: str, expected: dict[str, bool]
) -> None:
    """train reads sealed upstream outputs in place; a command cannot, and a KMS-wrapped data
    key is found beside what it sealed, which a stage's view of its inputs may not include."""
    from lockgate.engine.plan import build_plan

    stages = STAGES + (
        "  train:\n    uses: lockgate/train\n    needs: [ingest]\n"
        "    with: {entrypoint: 'model:build', data: {train: 'in:ingest', target: y}}\n"
        "  cmd:\n    run: [sh, -c, 'true']\n    needs: [ingest]\n"
    )
    plan = build_plan(parse_spec(HEAD + encryption + stages, "lockgate.yaml"), tmp_path)
    assert {s.name: s.reads_sealed for s in plan.stages} == expected


def test_evaluate_and_package_are_given_the_key_that_opens_the_stores_models(
    tmp_path: Path,
) -> None:
    """train seals the model it logs to the embedded MLflow store; the stages that load it get
    the key's name and its secret, a stage that loads none gets neither."""
    from lockgate.contract import ENV_ENCRYPTION_KEY
    from lockgate.engine.plan import build_plan

    spec = HEAD + "  at-rest: {env: AT_REST_KEY}\nencryption: {key: at-rest}\n" + MODEL_STAGES
    plan = build_plan(parse_spec(spec, "lockgate.yaml"), tmp_path)
    given = {s.name: (dict(s.env).get(ENV_ENCRYPTION_KEY), s.secrets) for s in plan.stages}
    assert given == {
        "train": ("at-rest", ("at-rest",)),
        "evaluate": ("at-rest", ("at-rest",)),
        "package": ("at-rest", ("at-rest",)),
        "check": (None, ()),
    }


MODEL_STAGES = """\
stages:
  train:
    uses: lockgate/train
    with: {entrypoint: model:build, data: {train: data/train.parquet}}
  evaluate:
    uses: lockgate/evaluate
    needs: [train]
    with: {model_name: m, data: data/test.parquet}
  package:
    uses: lockgate/package
    needs: [evaluate]
    with: {model: models:/m/1, tracking_uri: sqlite:///x/mlflow/mlflow.db}
  check:
    uses: lockgate/data-check
    with: {data: data/test.parquet}
"""
