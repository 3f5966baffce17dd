"""``lockgate verify`` as the CLI will call it, on a real registry with real cosign."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from lockgate.__main__ import main
from lockgate.commands.verify import add_arguments, run
from lockgate.supply.image_ref import ImageRefError
from lockgate.supply.verify_policy import VerifyPolicyError

from .conftest import PushImage
from .pipeline import SIGN_SECRETS, sign_with, stage_ctx
from .registry_server import RegistryServer


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lockgate verify")
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_verify_command_exit_codes(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lockgate.stages import sign

    ref = push_image(
        plain_registry, "cli/app:v1", {"app/x": b"cli"}, labels={"dev.lockgate.model.version": "5"}
    )
    ctx = stage_ctx(tmp_path, "sign", sign_with(ref, key_pair[0], []), secrets=SIGN_SECRETS)
    assert sign.main(ctx) == 0
    policy = tmp_path / "policy.yaml"
    policy.write_text("require: []\nscan: {fail_on: [CRITICAL, HIGH]}\n")
    ok = _args(
        str(ref),
        "--policy",
        str(policy),
        "--key",
        str(key_pair[1]),
        "--model-version",
        "5",
        "--plain-http",
    )
    assert run(ok) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"verified: {ref}"
    assert "PASS model version: 5 (label dev.lockgate.model.version)" in out
    refused = _args(str(ref), "--key", str(key_pair[1]), "--require", "sbom", "--plain-http")
    assert run(refused) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(f"REFUSED: {ref}\n")
    assert captured.err.startswith("verify: attestation sbom: ")
    argv = [str(ref), "--key", str(key_pair[1]), "--require", "sbom", "--plain-http", "--json"]
    assert main(["verify", *argv]) == 1  # the real entry point, as a script runs it
    doc = json.loads(capsys.readouterr().out)
    assert doc["image"] == str(ref) and doc["ok"] is False
    by_name = {r["name"]: r["passed"] for r in doc["requirements"]}
    assert by_name["attestation sbom"] is False and by_name["signature"] is True


def test_tag_and_bad_policy_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageRefError, match=r"^pin by digest: r\.example/app:v1"):
        run(_args("r.example/app:v1", "--key", "k.pub"))
    policy = tmp_path / "p.yaml"
    policy.write_text("key: k.pub\nrequire: [sboms]\n")
    with pytest.raises(VerifyPolicyError, match=r"p\.yaml: require(\.0|\[0\]): Input should be"):
        run(_args("r.example/app@sha256:" + "0" * 64, "--policy", str(policy)))
    with pytest.raises(VerifyPolicyError, match="give exactly one of key or keyless"):
        run(_args("r.example/app@sha256:" + "0" * 64))


@pytest.mark.parametrize(
    "pattern",
    ["https://github.com/team/model/", "^https://github.com/team/model/", "team/model$"],
)
def test_a_keyless_identity_pattern_must_be_anchored(tmp_path: Path, pattern: str) -> None:
    """cosign matches --certificate-identity-regexp anywhere in the identity: unanchored, an
    identity on another host that merely contains the pattern would be trusted."""
    policy = tmp_path / "p.yaml"
    policy.write_text(
        json.dumps({"keyless": {"issuer": "https://token.example", "identity_regexp": pattern}})
    )
    with pytest.raises(VerifyPolicyError, match=r"must be anchored at both ends, \^\.\.\.\$"):
        run(_args("r.example/app@sha256:" + "0" * 64, "--policy", str(policy)))


def test_an_anchored_keyless_identity_pattern_is_taken(tmp_path: Path) -> None:
    from lockgate.supply.verify_policy import load_verify_policy

    pattern = r"^https://github\.com/team/model/\.github/workflows/release\.yml@refs/heads/main$"
    policy = tmp_path / "p.yaml"
    policy.write_text(
        json.dumps({"keyless": {"issuer": "https://token.example", "identity_regexp": pattern}})
    )
    trust = load_verify_policy(policy, {}).trust()
    assert trust.identity_regexp == pattern  # type: ignore[union-attr]


def test_every_command_takes_the_registry_user_by_one_name() -> None:
    """`ci login` and `image` read LOCKGATE_REGISTRY_USER; verify read ..._USERNAME, so a user
    set up for the one reached the registry anonymously in the other."""
    from lockgate.supply.registry_http import env_credentials

    assert env_credentials({"LOCKGATE_REGISTRY_USER": "u", "LOCKGATE_REGISTRY_PASSWORD": "p"}) == (
        "u",
        "p",
    )
    assert env_credentials({"LOCKGATE_REGISTRY_USERNAME": "old"}) == ("old", "")
    both = {"LOCKGATE_REGISTRY_USER": "new", "LOCKGATE_REGISTRY_USERNAME": "old"}
    assert env_credentials(both)[0] == "new" and env_credentials({}) == ("", "")
