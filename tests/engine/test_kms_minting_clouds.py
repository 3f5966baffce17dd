"""``encryption.stage_credentials: minted`` for Vault, Google Cloud KMS and Azure Key Vault,
against the recording stand-ins (tests/engine/kms_servers.py, gcp_kms_server.py,
azure_kv_server.py; no Vault binary and no cloud can be reached here). They check what the
services document: Vault's child-token rules (policies a subset of the parent's unless it is
root, TTL, revocation), Google's scopes, token lifetimes and Token Creator grant for
``generateAccessToken``, and both clouds' token expiry. What only the real services show (Vault
policy syntax, IAM propagation delays, Entra token lifetime policies) is not proved here."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lockgate.errors import LockgateError
from tests.engine.azure_kv_server import AzureKeyVaultServer
from tests.engine.gcp_kms_server import PLATFORM, SCOPE, GcpKmsServer
from tests.engine.kms_servers import VaultTransitServer
from tests.engine.test_kms_docker_runs import held_nowhere
from tests.projects import last_record, lockgate, write_project

ROOT = "hvs.root-token-5d1e"
STREAM = """\
stages:
  pull:
    uses: lockgate/ingest
    timeout: 600
    with: {source: {files: {path: raw.csv}}, mode: stream}
"""
VAULT = """\
version: 1
name: minted
image: {{base: lockgate/debian:bookworm}}
secrets:
  vault-addr: {{file: keys/addr}}
  vault-token: {{file: keys/token}}
encryption:
  key: hashivault://lockgate
  credentials: {{VAULT_ADDR: vault-addr, VAULT_TOKEN: vault-token}}
  stage_credentials: minted
  vault_policies: [lockgate-transit]
"""
GCP = """\
version: 1
name: minted
image: {{base: lockgate/debian:bookworm}}
secrets:
  gcp-sa: {{file: keys/sa.json}}
  gcp-kms: {{file: keys/kms-endpoint}}
encryption:
  key: gcpkms://{key}
  credentials:
    GOOGLE_SERVICE_ACCOUNT_KEY: gcp-sa
    GOOGLE_KMS_ENDPOINT: gcp-kms
    GOOGLE_IAM_CREDENTIALS_ENDPOINT: gcp-kms
  stage_credentials: minted
  service_account: {account}
"""
AZURE = """\
version: 1
name: minted
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
  stage_credentials: minted
"""
RAW = {"raw.csv": "who,n\npatient-7731,1\nother,2\n"}


def _run(root: Path) -> tuple[str, dict]:
    result = lockgate("run", "--executor", "local", cwd=root, timeout=300)
    return result.stdout + result.stderr, last_record(root)


# --- Vault ---------------------------------------------------------------------------------


def test_a_vault_child_token_has_the_policies_and_ttl_asked_for_and_only_their_grant() -> None:
    from lockgate.engine.kms.vault import VaultTransit
    from lockgate.engine.kms.vault_token import ChildTokens

    with VaultTransitServer(ROOT) as vault:
        parent = vault.add_token(["lockgate-transit", "token-creator"])
        host = {"VAULT_ADDR": vault.addr, "VAULT_TOKEN": parent}
        minted = ChildTokens(host, ("lockgate-transit",), None).for_stage("lockgate-p-pull", 600)
        assert set(minted) == {"VAULT_ADDR", "VAULT_TOKEN"} and minted["VAULT_TOKEN"] != parent
        create = next(r for r in vault.requests if r["path"] == "/v1/auth/token/create")
        assert create["headers"]["X-Vault-Token"] == parent
        assert json.loads(create["body"]) == {
            "policies": ["lockgate-transit"],
            "ttl": "660s",
            "explicit_max_ttl": "660s",
            "renewable": False,
            "display_name": "lockgate-p-pull",
            "num_uses": 0,
        }
        entry = vault.store[minted["VAULT_TOKEN"]]
        assert entry["parent"] == parent and entry["policies"] == ["default", "lockgate-transit"]
        assert 600 < entry["expires"] - time.time() <= 660

        stage = VaultTransit("hashivault://lockgate", minted, "encryption.key")
        made = stage.generate()
        assert stage.unwrap(made.wrapped, made.kms_key) == made.plaintext
        # outside its grant: another transit key, and making tokens of its own
        with pytest.raises(LockgateError, match=r"Vault denied transit/datakey/plaintext .*403"):
            VaultTransit("hashivault://other", minted, "encryption.key").generate()
        with pytest.raises(LockgateError, match=r"refused to create .*\(403 permission denied\)"):
            ChildTokens(minted, ("lockgate-transit",), None).for_stage("x", 60)
        # lookup-self shows what Vault holds; once released, the child token is refused
        assert _lookup_self(vault.addr, minted["VAULT_TOKEN"])["display_name"] == (
            "token-lockgate-p-pull"
        )
        minter = ChildTokens(host, ("lockgate-transit",), None)
        assert minter.release(minted) is None
        with pytest.raises(LockgateError, match=r"Vault denied transit/datakey/plaintext .*403"):
            stage.generate()
        assert minter.release(minted) is not None  # twice: one line to warn with, no raise


def _lookup_self(addr: str, token: str) -> dict:
    import urllib.request

    request = urllib.request.Request(
        f"{addr}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return dict(json.load(resp)["data"])


def test_a_parent_without_the_policy_cannot_mint_and_the_refusal_is_one_line() -> None:
    from lockgate.engine.kms.vault_token import ChildTokens

    with VaultTransitServer(ROOT) as vault:
        parent = vault.add_token(["token-creator"])
        host = {"VAULT_ADDR": vault.addr, "VAULT_TOKEN": parent}
        with pytest.raises(LockgateError) as caught:
            ChildTokens(host, ("lockgate-transit",), None).for_stage("lockgate-p-pull", 60)
    assert str(caught.value) == (
        "encryption.stage_credentials: Vault refused to create the stage's child token (400 "
        "child policies must be subset of parent): give VAULT_TOKEN's own token the policies "
        "lockgate-transit, or name only policies it has in encryption.vault_policies; the "
        "stage was not started"
    )
    assert parent not in str(caught.value)


def test_a_vault_stage_runs_with_a_child_token_revoked_after_it(tmp_path: Path) -> None:
    started = time.time()
    with VaultTransitServer(ROOT) as vault:
        files = {**RAW, "keys/addr": vault.addr, "keys/token": ROOT}
        root = write_project(tmp_path / "p", VAULT.format() + STREAM, files)
        said, record = _run(root)
        assert record["stages"][0]["state"] == "ok", said
        (create,) = [r for r in vault.requests if r["path"] == "/v1/auth/token/create"]
        assert json.loads(create["body"])["display_name"] == "lockgate-minted-pull"
        (child,) = vault.revoked  # revoked after the attempt
        assert child != ROOT and child not in vault.store
        # the stage's own transit calls carried the child token
        used = {r["headers"].get("X-Vault-Token") for r in vault.requests if "transit" in r["path"]}
        assert child in used
        revoke = next(r for r in vault.requests if r["path"].endswith("/revoke-self"))
        assert revoke["headers"]["X-Vault-Token"] == child
    assert ROOT not in said and child not in said
    held_nowhere([ROOT.encode(), child.encode()], root / ".lockgate", since=started)


def test_a_vault_run_whose_token_may_not_mint_fails_before_the_stage(tmp_path: Path) -> None:
    with VaultTransitServer(ROOT) as vault:
        parent = vault.add_token(["lockgate-transit"])  # no auth/token/create
        files = {**RAW, "keys/addr": vault.addr, "keys/token": parent}
        root = write_project(tmp_path / "p", VAULT.format() + STREAM, files)
        said, record = _run(root)
        # only the host's own sealing reached transit: no child token was ever made
        used = {r["headers"]["X-Vault-Token"] for r in vault.requests if "transit" in r["path"]}
        assert used == {parent} and set(vault.store) == {ROOT, parent}
    (stage,) = record["stages"]
    assert stage["state"] == "failed"
    assert stage["reason"].startswith(
        "encryption.stage_credentials: Vault refused to create the stage's child token (403 "
        "permission denied): VAULT_TOKEN may not create tokens"
    ), stage["reason"]
    assert "\n" not in stage["reason"] and "Traceback" not in said and parent not in said


# --- Cloud KMS -----------------------------------------------------------------------------


def test_a_cloud_kms_token_is_scoped_to_cloud_kms_and_the_stage_client_takes_it_bare() -> None:
    from lockgate.engine.kms.gcp import GcpKms
    from lockgate.engine.kms.gcp_token import KmsAccessTokens

    with GcpKmsServer() as gcp:
        account = gcp.account("lockgate-ci")
        uri = f"gcpkms://{gcp.key('data')}"
        host = {"GOOGLE_SERVICE_ACCOUNT_KEY": json.dumps(account), "GOOGLE_KMS_ENDPOINT": gcp.url}
        minted = KmsAccessTokens(uri, host, None, None).for_stage("lockgate-p-pull", 600)
        assert set(minted) == {
            "GOOGLE_ACCESS_TOKEN",
            "GOOGLE_ACCESS_TOKEN_EXPIRY",
            "GOOGLE_KMS_ENDPOINT",
        }
        token = minted["GOOGLE_ACCESS_TOKEN"]
        assert gcp.scopes[token] == {SCOPE}
        assert 600 < int(minted["GOOGLE_ACCESS_TOKEN_EXPIRY"]) - time.time() <= 660
        stage = GcpKms(uri, minted, "encryption.key")
        made = stage.generate()
        assert stage.unwrap(made.wrapped, made.kms_key) == made.plaintext
        assert stage.account is None  # no key: nothing to sign another token with
        # outside its grant: the IAM Credentials API needs the cloud-platform scope
        other = gcp.impersonable("lockgate-other", ("other",), by=account["client_email"])
        headers = {"Authorization": f"Bearer {token}"}
        status, answer = gcp.answer(
            f"/v1/projects/-/serviceAccounts/{other}:generateAccessToken",
            headers,
            json.dumps({"scope": [PLATFORM]}).encode(),
        )
        assert (status, answer["error"]["status"]) == (403, "PERMISSION_DENIED")


def test_an_impersonated_account_token_works_on_its_key_only(tmp_path: Path) -> None:
    from lockgate.engine.kms.gcp import GcpKms
    from lockgate.engine.kms.gcp_token import KmsAccessTokens

    with GcpKmsServer() as gcp:
        account = gcp.account("lockgate-ci")
        narrow = gcp.impersonable("lockgate-stage", ("data",), by=account["client_email"])
        host = {
            "GOOGLE_SERVICE_ACCOUNT_KEY": json.dumps(account),
            "GOOGLE_KMS_ENDPOINT": gcp.url,
            "GOOGLE_IAM_CREDENTIALS_ENDPOINT": gcp.url,
        }
        uri = f"gcpkms://{gcp.key('data')}"
        minted = KmsAccessTokens(uri, host, narrow, None).for_stage("lockgate-p-fit", 7200)
        (ask,) = [r for r in gcp.requests if "generateAccessToken" in r["path"]]
        assert json.loads(ask["body"]) == {"scope": [SCOPE], "lifetime": "3600s"}  # capped
        token = minted["GOOGLE_ACCESS_TOKEN"]
        assert gcp.tokens[token] == narrow and gcp.scopes[token] == {SCOPE}
        stage = GcpKms(uri, minted, "encryption.key")
        made = stage.generate()
        assert stage.unwrap(made.wrapped, made.kms_key) == made.plaintext
        with pytest.raises(LockgateError, match=r"Cloud KMS denied encrypt .*PERMISSION_DENIED"):
            GcpKms(f"gcpkms://{gcp.key('other')}", minted, "encryption.key").generate()
        # once the token has expired the stage's client refuses it before calling
        expired = {**minted, "GOOGLE_ACCESS_TOKEN_EXPIRY": str(int(time.time()) - 5)}
        calls = len(gcp.requests)
        with pytest.raises(LockgateError, match=r"the access token minted for this stage expired"):
            GcpKms(uri, expired, "encryption.key").generate()
        assert len(gcp.requests) == calls
        gcp.expires[token] = time.time() - 1  # and the server refuses it too
        with pytest.raises(LockgateError, match=r"refused the access token .*401.*expired or was"):
            GcpKms(uri, minted, "encryption.key").generate()


def test_impersonation_denied_is_one_line(tmp_path: Path) -> None:
    from lockgate.engine.kms.gcp_token import KmsAccessTokens

    with GcpKmsServer() as gcp:
        account = gcp.account("lockgate-ci")
        narrow = gcp.impersonable("lockgate-stage", ("data",), by="someone-else@x.com")
        host = {
            "GOOGLE_SERVICE_ACCOUNT_KEY": json.dumps(account),
            "GOOGLE_KMS_ENDPOINT": gcp.url,
            "GOOGLE_IAM_CREDENTIALS_ENDPOINT": gcp.url,
        }
        minter = KmsAccessTokens(f"gcpkms://{gcp.key('data')}", host, narrow, None)
        with pytest.raises(LockgateError) as caught:
            minter.for_stage("lockgate-p-pull", 60)
    message = str(caught.value)
    assert message.startswith(
        f"encryption.stage_credentials: IAM Credentials refused generateAccessToken for {narrow} "
        "(403 PERMISSION_DENIED: Permission 'iam.serviceAccounts.getAccessToken' denied"
    ), message
    assert message.endswith(
        f"grant {account['client_email']} roles/iam.serviceAccountTokenCreator on {narrow}; "
        "the stage was not started"
    )
    assert "\n" not in message


def test_a_cloud_kms_stage_runs_as_the_impersonated_account_and_the_key_is_nowhere(
    tmp_path: Path,
) -> None:
    started = time.time()
    with GcpKmsServer() as gcp:
        account = gcp.account("lockgate-ci")
        narrow = gcp.impersonable("lockgate-stage", ("data",), by=account["client_email"])
        files = {**RAW, "keys/sa.json": json.dumps(account), "keys/kms-endpoint": gcp.url}
        spec = GCP.format(key=gcp.key("data"), account=narrow) + STREAM
        root = write_project(tmp_path / "p", spec, files)
        said, record = _run(root)
        assert record["stages"][0]["state"] == "ok", said
        kms_calls = [r for r in gcp.requests if r["path"].endswith((":encrypt", ":decrypt"))]
        callers = {gcp.principal(r["headers"]) for r in kms_calls}
        assert narrow in callers  # the stage's own calls
        minted = [t for t, who in gcp.tokens.items() if who == narrow]
    pem_lines = account["private_key"].splitlines()[1:-1]
    assert not [line for line in pem_lines if line in said] and not [t for t in minted if t in said]
    needles = [line.encode() for line in pem_lines] + [t.encode() for t in minted]
    held_nowhere(needles, root / ".lockgate", since=started)


# --- Key Vault -----------------------------------------------------------------------------


def test_a_key_vault_token_is_all_the_stage_gets_and_is_refused_outside_its_grant() -> None:
    from lockgate.engine.kms.azure import AzureKeyVault
    from lockgate.engine.kms.azure_token import VaultAccessTokens

    with AzureKeyVaultServer() as azure:
        client_id, secret = azure.client()
        azure.grants[client_id] = {"data"}
        host = {
            "AZURE_TENANT_ID": azure.tenant,
            "AZURE_CLIENT_ID": client_id,
            "AZURE_CLIENT_SECRET": secret,
            "AZURE_AUTHORITY_HOST": azure.url,
        }
        uri = f"azurekms://{azure.host}/data"
        minted = VaultAccessTokens(uri, host, None).for_stage("lockgate-p-pull", 600)
        assert set(minted) == {"AZURE_ACCESS_TOKEN", "AZURE_ACCESS_TOKEN_EXPIRY"}
        (ask,) = [r for r in azure.requests if r["path"].endswith("/oauth2/v2.0/token")]
        assert b"scope=https%3A%2F%2Fvault.azure.net%2F.default" in ask["body"]
        stage = AzureKeyVault(uri, minted, "encryption.key")
        made = stage.generate()
        assert stage.unwrap(made.wrapped, made.kms_key) == made.plaintext
        with pytest.raises(LockgateError, match=r"denied wrapkey on key other \(403 Forbidden"):
            AzureKeyVault(f"azurekms://{azure.host}/other", minted, "encryption.key").generate()
        azure.expires[minted["AZURE_ACCESS_TOKEN"]] = time.time() - 1
        with pytest.raises(LockgateError, match=r"for wrapkey \(401 .*: the token minted for this"):
            AzureKeyVault(uri, minted, "encryption.key").generate()
        expired = {**minted, "AZURE_ACCESS_TOKEN_EXPIRY": str(int(time.time()) - 5)}
        with pytest.raises(LockgateError, match=r"the access token minted for this stage expired"):
            AzureKeyVault(uri, expired, "encryption.key").generate()


def test_a_key_vault_stage_runs_on_a_minted_token_and_the_secret_is_nowhere(
    tmp_path: Path,
) -> None:
    started = time.time()
    with AzureKeyVaultServer() as azure:
        client_id, secret = azure.client()
        files = {**RAW, "keys/tenant": azure.tenant, "keys/client": client_id}
        files |= {"keys/secret": secret, "keys/authority": azure.url}
        root = write_project(tmp_path / "p", AZURE.format(host=azure.host) + STREAM, files)
        said, record = _run(root)
        assert record["stages"][0]["state"] == "ok", said
        token_asks = [r for r in azure.requests if r["path"].endswith("/token")]
        assert len(token_asks) >= 2  # the engine's own, and the one minted for the stage
        tokens = list(azure.tokens)
    assert secret not in said and not [t for t in tokens if t in said]
    needles = [secret.encode()] + [t.encode() for t in tokens]
    held_nowhere(needles, root / ".lockgate", since=started)


def test_a_token_endpoint_refusing_to_mint_is_one_line() -> None:
    """On the host, the engine's own sealing asks with the same secret first (and stops the run
    there, tested in test_kms_runs.py); the minter reports the same refusal as its own."""
    from lockgate.engine.kms.azure_token import VaultAccessTokens

    with AzureKeyVaultServer() as azure:
        client_id, secret = azure.client()
        host = {
            "AZURE_TENANT_ID": azure.tenant,
            "AZURE_CLIENT_ID": client_id,
            "AZURE_CLIENT_SECRET": "wrong-" + secret,
            "AZURE_AUTHORITY_HOST": azure.url,
        }
        minter = VaultAccessTokens(f"azurekms://{azure.host}/data", host, None)
        with pytest.raises(LockgateError) as caught:
            minter.for_stage("lockgate-p-pull", 60)
        assert not azure.tokens
    message = str(caught.value)
    assert message.startswith(
        "encryption.stage_credentials: the Microsoft identity platform refused client "
        f"{client_id} of tenant {azure.tenant} (401 invalid_client: AADSTS7000215"
    ), message
    assert "\n" not in message and secret not in message


# --- what the plan hands each stage ---------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "given"),
    [
        (
            VAULT.format(),
            {"VAULT_ADDR": "minted-vault-addr", "VAULT_TOKEN": "minted-vault-token"},
        ),
        (
            GCP.format(
                key="projects/p/locations/l/keyRings/r/cryptoKeys/k",
                account="lockgate-stage@p.iam.gserviceaccount.com",
            ),
            {
                "GOOGLE_ACCESS_TOKEN": "minted-google-access-token",
                "GOOGLE_ACCESS_TOKEN_EXPIRY": "minted-google-access-token-expiry",
                "GOOGLE_KMS_ENDPOINT": "minted-google-kms-endpoint",
            },
        ),
        (
            AZURE.format(host="v.vault.azure.net"),
            {
                "AZURE_ACCESS_TOKEN": "minted-azure-access-token",
                "AZURE_ACCESS_TOKEN_EXPIRY": "minted-azure-access-token-expiry",
            },
        ),
    ],
)
def test_a_minted_stage_is_given_only_the_minted_files_and_only_tokens_are_masked(
    tmp_path: Path, spec: str, given: dict[str, str]
) -> None:
    from lockgate.engine import plancache
    from lockgate.engine.digests import FileDigests
    from lockgate.engine.minting import StageCredentials
    from lockgate.engine.plan import build_plan
    from lockgate.spec.loader import load_spec

    (tmp_path / "lockgate.yaml").write_text(spec + STREAM)
    pipeline = load_spec(tmp_path / "lockgate.yaml")
    built = build_plan(pipeline, tmp_path)
    plancache.save(tmp_path / "plan.json", "k", built, pipeline)
    cached = plancache.load(tmp_path / "plan.json", "k", FileDigests(None))
    assert cached is not None and cached[0] == built
    (pull,) = built.stages
    assert pull.minted_credentials and pull.secrets == ()
    assert json.loads(dict(pull.env)["LOCKGATE_ENCRYPTION_CREDENTIALS"]) == given
    minted = {file: f"value-of-{file}" for file in given.values()}
    masked = StageCredentials(built, {}).masked(minted)
    assert masked == [v for v in minted.values() if "token" in v and "expiry" not in v]
