"""cosign command lines for each signing mode and major version.

Keyless signing needs a CI's OIDC token and reachable Fulcio/Rekor, which this machine does not
have: its command line is checked here; the key-based path runs for real in test_verify.py."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from lockgate.supply.cosign import (
    CosignClient,
    KeylessSigner,
    KeyPairSigner,
    TrustedIdentity,
    TrustedKey,
    is_kms_uri,
    last_error,
)
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.registry_http import RegistryAccess
from lockgate.supply.tools import Cosign

REF = ImageRef.parse("registry.example/team/model@sha256:" + "d" * 64)


def _client(version: str, tmp: Path, **kw: Any) -> CosignClient:
    return CosignClient(Cosign(Path("/usr/bin/cosign"), version), tmp / "tuf", **kw)


def test_key_signing_without_tlog_per_major_version(tmp_path: Path) -> None:
    signer = KeyPairSigner("/keys/cosign.key", "pw")
    assert _client("2.5.0", tmp_path).sign_argv(REF, signer)[2:] == [
        "-y",
        "--key=/keys/cosign.key",
        "--tlog-upload=false",
        str(REF),
    ]
    assert _client("3.1.1", tmp_path).attest_argv(REF, signer, Path("p.json"), "cyclonedx")[2:] == [
        "-y",
        "--key=/keys/cosign.key",
        "--tlog-upload=false",
        "--use-signing-config=false",
        "--type=cyclonedx",
        "--predicate=p.json",
        str(REF),
    ]
    assert "--tlog-upload=false" not in _client("2.5.0", tmp_path, tlog_upload=True).sign_argv(
        REF, signer
    )


def test_kms_key_is_passed_as_is(tmp_path: Path) -> None:
    kms = "awskms:///arn:aws:kms:eu-west-1:111122223333:key/abcd"
    assert is_kms_uri(kms) and not is_kms_uri("/keys/cosign.key")
    argv = _client("2.5.0", tmp_path).sign_argv(REF, KeyPairSigner(kms))
    assert f"--key={kms}" in argv


def test_keyless_signing_in_ci(tmp_path: Path) -> None:
    signer = KeylessSigner(
        identity_token="tok", oidc_provider="github-actions", rekor_url="https://rekor.example"
    )
    client = _client("2.5.0", tmp_path, tlog_upload=True)
    assert client.sign_argv(REF, signer)[2:] == [
        "-y",
        "--oidc-provider=github-actions",
        "--rekor-url=https://rekor.example",
        str(REF),
    ]
    assert client._env(signer)["SIGSTORE_ID_TOKEN"] == "tok"
    assert "COSIGN_PASSWORD" not in client._env(signer)
    verify = client.verify_argv(
        REF,
        TrustedIdentity(
            "https://token.actions.githubusercontent.com",
            identity_regexp="^https://github.com/team/model/",
        ),
    )
    assert verify[2:] == [
        "--certificate-oidc-issuer=https://token.actions.githubusercontent.com",
        "--certificate-identity-regexp=^https://github.com/team/model/",
        str(REF),
    ]


def test_verification_without_tlog_ignores_it_explicitly(tmp_path: Path) -> None:
    argv = _client("2.5.0", tmp_path).verify_attestation_argv(REF, TrustedKey("c.pub"), "x")
    assert argv[2:] == ["--key=c.pub", "--insecure-ignore-tlog=true", "--type=x", str(REF)]


def test_password_reaches_only_the_child_environment(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        seen["argv"], seen["env"] = argv, kw["env"]
        return subprocess.CompletedProcess(argv, 0, "", "")

    access = RegistryAccess("127.0.0.1:5000", "bot", "reg-pass", plain_http=True)
    client = CosignClient(
        Cosign(Path("/usr/bin/cosign"), "2.5.0"), tmp_path / "tuf", access, run=run
    )
    client.sign(REF, KeyPairSigner("k.key", "key-pass"))
    assert seen["env"]["COSIGN_PASSWORD"] == "key-pass"
    assert seen["env"]["TUF_ROOT"] == str(tmp_path / "tuf")
    assert "--allow-http-registry=true" in seen["argv"]
    assert not any("pass" in arg for arg in seen["argv"])
    config = Path(seen["env"]["DOCKER_CONFIG"])
    assert not config.exists()  # the private docker config is gone after the call


def test_last_error_line() -> None:
    stderr = "Pushing...\nError: no signatures found\nerror during command execution: no sig\n"
    assert last_error(stderr) == "no sig"
    assert last_error("") == "no message"
