"""Attacks on verify that need registry push rights only, no signing key, against a real
registry and real trivy and cosign: the registry's layer order must never decide the verdict."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from lockgate.__main__ import main
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.verify_policy import VerifyPolicyError, load_verify_policy

from .conftest import PushImage
from .pipeline import (
    SIGN_SECRETS,
    drop_attestations,
    fake_aws_key,
    reasons,
    reorder_attestations,
    scan_passed_in,
    sign_with,
    stage_ctx,
    verify,
)
from .registry_server import RegistryServer
from .test_verify import _scan_and_sign

pytestmark = pytest.mark.usefixtures("trivy", "cosign")

IGNORE_UNTIL_2099 = {
    "ignore": [
        {"id": "aws-access-key-id", "justification": "old test key", "expires": "2099-01-01"}
    ]
}


def _passing_then_failing(
    registry: RegistryServer, push_image: PushImage, key: Path, tmp: Path
) -> ImageRef:
    """One digest, two genuine scan attestations: an older passing one, a newer failing one."""
    ref = push_image(
        registry,
        "attack/leaky:v1",
        {"app/deploy.sh": f"export AWS_ACCESS_KEY_ID={fake_aws_key()}\n".encode()},
    )
    (tmp / "first").mkdir()
    (tmp / "second").mkdir()
    first = _scan_and_sign(tmp / "first", ref, key, ["scan"], IGNORE_UNTIL_2099, date(2026, 3, 1))
    assert first == 0
    assert _scan_and_sign(tmp / "second", ref, key, ["scan"]) == 1
    return ref


def test_moving_the_passing_scan_verdict_last_does_not_pass(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    ref = _passing_then_failing(plain_registry, push_image, key_pair[0], tmp_path)
    access = plain_registry.access()
    layers = reorder_attestations(access, ref, lambda layer: scan_passed_in(access, ref, layer))
    assert [scan_passed_in(access, ref, layer) for layer in layers] == [False, True]
    policy = {"key": str(key_pair[1]), "require": ["scan"]}
    report = verify(plain_registry, str(ref), policy, tmp_path)
    assert not report.passed
    assert reasons(report) == {
        "scan policy": "1 of 2 signed scan verdicts for this digest fail: scan verdict failed: "
        "secret aws-access-key-id CRITICAL in /app/deploy.sh:1"
    }
    # the original order refuses the same way: order is not an input
    reorder_attestations(access, ref, lambda layer: not scan_passed_in(access, ref, layer))
    assert reasons(verify(plain_registry, str(ref), policy, tmp_path)) == reasons(report)


def test_a_key_in_the_working_directory_does_not_replace_the_policys_key(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    other_key_pair: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The attacker signs their image with their own key and runs verify from a folder that
    holds their public key under the name the policy uses."""
    from lockgate.stages import sign

    ref = push_image(plain_registry, "attack/keypath:v1", {"app/x": b"attacker"})
    ctx = stage_ctx(tmp_path, "sign", sign_with(ref, other_key_pair[0], []), secrets=SIGN_SECRETS)
    assert sign.main(ctx) == 0
    project = tmp_path / "project"
    (project / "keys").mkdir(parents=True)
    shutil.copy(key_pair[1], project / "keys" / "cosign.pub")
    (project / "verify.yaml").write_text("key: keys/cosign.pub\nrequire: []\n")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "keys").mkdir(parents=True)
    shutil.copy(other_key_pair[1], elsewhere / "keys" / "cosign.pub")
    monkeypatch.chdir(elsewhere)
    argv = [str(ref), "--policy", str(project / "verify.yaml"), "--plain-http"]
    assert main(["verify", *argv]) == 1
    out = capsys.readouterr().out
    assert "FAIL signature:" in out
    assert "invalid signature" in out
    assert f"(key {project / 'keys' / 'cosign.pub'})" in out


def test_a_key_symlink_leading_out_of_the_policy_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.pub"
    outside.write_text("not a key\n")
    project = tmp_path / "project"
    (project / "keys").mkdir(parents=True)
    (project / "keys" / "cosign.pub").symlink_to(outside)
    (project / "verify.yaml").write_text("key: keys/cosign.pub\n")
    with pytest.raises(VerifyPolicyError, match=r"verify.yaml: key: keys/cosign.pub is a symlink"):
        load_verify_policy(project / "verify.yaml", {})
    (project / "keys" / "cosign.pub").unlink()
    (project / "keys" / "cosign.pub").write_text("a key\n")
    policy = load_verify_policy(project / "verify.yaml", {})
    assert policy.key == str((project / "keys" / "cosign.pub").resolve())


def test_deleting_the_failing_scan_verdict_is_caught_by_the_ledger(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    """Deleting the failing verdict's layer leaves a registry that verifies. The ledger, which
    recorded both signed verdicts when the first promotion was refused, is the record outside
    the registry: the next promotion sees one missing and refuses, and says so in the ledger."""
    from lockgate.delivery.promotion.verifier import SupplyVerifier
    from tests.delivery.gatekit import SPEC, make_world

    ref = _passing_then_failing(plain_registry, push_image, key_pair[0], tmp_path)
    root = tmp_path / "project"
    root.mkdir()
    (root / "verify.yaml").write_text(f"key: {key_pair[1]}\nrequire: [scan]\n")
    world = make_world(root, SPEC.replace("policy:\n", "policy:\n  verify: verify.yaml\n", 1))
    world.verifier = SupplyVerifier(world.pipeline, root, plain_http=True)  # type: ignore[assignment]

    first = world.promoter().promote("staging", str(ref), author="dana")
    assert first.status == "refused"
    recorded = world.ledger.entries()[-1].details["scan_verdicts"]
    assert sorted(v.split(":")[1] for v in recorded) == ["fail", "pass"]

    access = plain_registry.access()
    drop_attestations(access, ref, lambda layer: scan_passed_in(access, ref, layer))
    policy = {"key": str(key_pair[1]), "require": ["scan"]}
    assert verify(plain_registry, str(ref), policy, tmp_path).passed  # the registry alone passes

    out = world.promoter().promote("staging", str(ref), author="dana")
    assert out.status == "refused"
    failed = next(v for v in recorded if v.endswith(":fail"))
    why = (
        f"1 signed scan verdict(s) for {ref.digest[:19]} recorded earlier are no longer in the "
        f"registry ({failed}, recorded at entry {first.seqs[0]}): an attestation was deleted"
    )
    assert any(why in line for line in out.lines), out.lines
    refused = world.ledger.entries()[-1]
    assert refused.action == "refuse" and why in (refused.reason or "")
    assert not [e for e in world.ledger.entries() if e.action == "promote"]
