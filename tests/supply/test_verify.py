"""push -> scan -> sign -> attest -> verify against a real registry with real trivy and cosign,
and every way verification must refuse, each with its reason."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lockgate.stages import scan as scan_stage
from lockgate.stages import sign as sign_stage
from lockgate.supply.image_ref import ImageRef, ImageRefError
from lockgate.supply.oci_image import build_image, layer_from_files
from lockgate.supply.registry import RegistryClient

from .conftest import PushImage
from .pipeline import (
    SIGN_SECRETS,
    copy_attestations,
    fake_aws_key,
    reasons,
    sign_with,
    stage_ctx,
    tamper_attestation,
    verify,
)
from .registry_server import RegistryServer

pytestmark = pytest.mark.usefixtures("trivy", "cosign")

BASE = {"etc/os-release": b'ID=debian\nVERSION_ID="12"\n', "usr/lib/base.txt": b"base layer\n"}
ALL = ["sbom", "provenance", "evaluation", "scan"]
PROVENANCE = {
    "builder_id": "https://ci.example/lockgate-runner",
    "source_repo": "git+https://git.example/team/churn",
    "datasets": {"train": "sha256:" + "1" * 64},
    "mlflow_run_id": "0f3c2a",
}


def _scan_and_sign(
    tmp: Path,
    ref: ImageRef,
    key: Path,
    attest: list[str] = ALL,
    scan_with: dict[str, Any] | None = None,
    today: date | None = None,
) -> int:
    """Run the real scan stage then the real sign stage; returns the scan's exit code."""
    scan_ctx = stage_ctx(
        tmp, "scan", {"image": str(ref), "scanners": ["secret"], **(scan_with or {})}
    )
    scan_rc = scan_stage.main(scan_ctx, today=today)
    evaluate = tmp / "evaluate-out"
    evaluate.mkdir()
    (evaluate / "metrics.json").write_text(json.dumps({"auc": 0.91, "verdict": "promote"}))
    sign_ctx = stage_ctx(
        tmp,
        "sign",
        sign_with(ref, key, attest, provenance=PROVENANCE, model={"name": "churn", "version": "7"}),
        inputs={"scan": scan_ctx.out, "evaluate": evaluate},
        secrets=SIGN_SECRETS,
        git_sha="a" * 40,
    )
    assert sign_stage.main(sign_ctx) == 0
    return scan_rc


def _policy(pub: Path, **extra: Any) -> dict[str, Any]:
    return {"key": str(pub), "require": ALL, **extra}


def test_full_path_verifies(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    ref = push_image(
        plain_registry,
        "verify/full:v1",
        {"app/model.txt": b"weights"},
        labels={"dev.lockgate.model.version": "7"},
        base=BASE,
    )
    assert _scan_and_sign(tmp_path, ref, key_pair[0]) == 0
    report = verify(
        plain_registry,
        f"{ref.name}:v1@{ref.digest}",
        _policy(key_pair[1], model_version="7"),
        tmp_path / "tuf",
    )
    assert report.passed, report.render()
    assert [r.name for r in report.requirements] == [
        "tag",
        "signature",
        "attestation sbom",
        "attestation provenance",
        "attestation evaluation",
        "attestation scan",
        "scan policy",
        "model version",
    ]
    wrong = verify(
        plain_registry, str(ref), _policy(key_pair[1], model_version="8"), tmp_path / "tuf"
    )
    assert reasons(wrong) == {
        "model version": "image has model version 7 (label dev.lockgate.model.version), expected 8"
    }


def test_unsigned_image_is_refused(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    ref = push_image(plain_registry, "verify/unsigned:v1", {"app/x": b"unsigned"})
    report = verify(plain_registry, str(ref), _policy(key_pair[1]), tmp_path)
    assert not report.passed
    assert "no signatures found" in reasons(report)["signature"]
    assert "attestation sbom" in reasons(report)


def test_image_signed_by_another_key_is_refused(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    other_key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    ref = push_image(plain_registry, "verify/otherkey:v1", {"app/x": b"other"})
    _scan_and_sign(tmp_path, ref, other_key_pair[0], attest=["sbom"])
    report = verify(plain_registry, str(ref), _policy(key_pair[1], require=["sbom"]), tmp_path)
    assert set(reasons(report)) == {"signature", "attestation sbom"}
    assert "invalid signature" in reasons(report)["signature"]
    assert reasons(report)["attestation sbom"].startswith(
        "a sbom attestation is stored but does not verify against the trusted key"
    )
    assert not reasons(report)["attestation sbom"].endswith(":")
    assert verify(
        plain_registry, str(ref), _policy(other_key_pair[1], require=["sbom"]), tmp_path
    ).passed


def test_tag_moved_to_a_different_digest_is_refused(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    signed = push_image(plain_registry, "verify/moved:v1", {"app/x": b"signed build"})
    _scan_and_sign(tmp_path, signed, key_pair[0], attest=["sbom"])
    moved = push_image(plain_registry, "verify/moved:v1", {"app/x": b"someone else's build"})
    report = verify(
        plain_registry,
        f"{signed.name}:v1@{signed.digest}",
        _policy(key_pair[1], require=["sbom"]),
        tmp_path,
    )
    assert reasons(report) == {
        "tag": f"tag v1 moved: it now points at {moved.digest}, not {signed.digest}"
    }
    assert (
        "no signatures found"
        in reasons(
            verify(plain_registry, str(moved), _policy(key_pair[1], require=["sbom"]), tmp_path)
        )["signature"]
    )


def test_a_tag_instead_of_a_digest_is_an_error(
    key_pair: tuple[Path, Path], plain_registry: RegistryServer, tmp_path: Path
) -> None:
    with pytest.raises(ImageRefError, match=r"^pin by digest: "):
        verify(
            plain_registry, f"{plain_registry.host}/verify/full:v1", _policy(key_pair[1]), tmp_path
        )


def test_missing_attestation_is_refused(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    ref = push_image(plain_registry, "verify/missing:v1", {"app/x": b"sbom only"})
    _scan_and_sign(tmp_path, ref, key_pair[0], attest=["sbom"])
    report = verify(plain_registry, str(ref), _policy(key_pair[1]), tmp_path)
    failed = reasons(report)
    assert set(failed) == {"attestation provenance", "attestation evaluation", "attestation scan"}
    assert "none of the attestations matched the predicate type" in failed["attestation scan"]


def test_attestation_signed_for_another_digest_is_refused(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    good = push_image(plain_registry, "verify/copied:good", {"app/x": b"reviewed"})
    _scan_and_sign(tmp_path / "good", good, key_pair[0], attest=["sbom", "scan"])
    other = push_image(plain_registry, "verify/copied:other", {"app/x": b"not reviewed"})
    _scan_and_sign(tmp_path / "other", other, key_pair[0], attest=[])  # signature only
    copy_attestations(plain_registry.access(), good, good.digest, other.digest)
    report = verify(
        plain_registry, str(other), _policy(key_pair[1], require=["sbom", "scan"]), tmp_path
    )
    failed = reasons(report)
    assert set(failed) == {"attestation sbom", "attestation scan"}
    # cosign compares the statement's subject with the digest itself; lockgate checks it again
    assert failed["attestation sbom"] == (
        f"the stored sbom attestation is signed for another digest, not {other.digest}"
    )


def test_sbom_tampered_after_signing_is_refused(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    ref = push_image(plain_registry, "verify/tampered:v1", {"app/x": b"tamper me"}, base=BASE)
    _scan_and_sign(tmp_path, ref, key_pair[0], attest=["sbom", "scan"])
    policy = _policy(key_pair[1], require=["sbom", "scan"])
    assert verify(plain_registry, str(ref), policy, tmp_path).passed

    def drop_components(predicate: dict[str, Any]) -> None:
        predicate["components"] = []

    tamper_attestation(plain_registry.access(), ref, "https://cyclonedx.org/bom", drop_components)
    failed = reasons(verify(plain_registry, str(ref), policy, tmp_path))
    assert list(failed) == ["attestation sbom"]
    assert failed["attestation sbom"].startswith(
        "a sbom attestation is stored but does not verify against the trusted key (tampered or "
        "signed by another key): none of the attestations matched the predicate type: cyclonedx"
    )


def test_failing_scan_verdict_is_refused(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    ref = push_image(
        plain_registry,
        "verify/leaky:v1",
        {"app/deploy.sh": f"export AWS_ACCESS_KEY_ID={fake_aws_key()}\n".encode()},
    )
    assert _scan_and_sign(tmp_path, ref, key_pair[0], attest=["scan"]) == 1
    failed = reasons(
        verify(plain_registry, str(ref), _policy(key_pair[1], require=["scan"]), tmp_path)
    )
    assert failed == {
        "scan policy": "scan verdict failed: secret aws-access-key-id CRITICAL in /app/deploy.sh:1"
    }


def test_ignore_entry_that_expired_since_signing_reexposes_the_critical_finding(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    ref = push_image(
        plain_registry,
        "verify/expiring:v1",
        {"app/deploy.sh": f"export AWS_ACCESS_KEY_ID={fake_aws_key()}\n".encode()},
    )
    ignore = {
        "ignore": [
            {
                "id": "aws-access-key-id",
                "justification": "revoked test key",
                "expires": "2026-03-31",
            }
        ]
    }
    rc = _scan_and_sign(
        tmp_path, ref, key_pair[0], attest=["scan"], scan_with=ignore, today=date(2026, 3, 1)
    )
    assert rc == 0  # accepted while the entry was live
    policy = _policy(key_pair[1], require=["scan"])
    assert verify(plain_registry, str(ref), policy, tmp_path, today=date(2026, 3, 31)).passed
    failed = reasons(verify(plain_registry, str(ref), policy, tmp_path, today=date(2026, 4, 1)))
    assert failed == {
        "scan policy": "ignore entry for aws-access-key-id expired on 2026-03-31: secret "
        "aws-access-key-id CRITICAL in /app/deploy.sh:1 counts again"
    }


def test_model_version_from_the_evaluation_attestation(
    plain_registry: RegistryServer,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    image = build_image([layer_from_files({"app/x": b"no label"})])
    client = RegistryClient(plain_registry.access())
    ref = client.push_image(ImageRef.parse(f"{plain_registry.host}/verify/nolabel:v1"), image)
    _scan_and_sign(tmp_path, ref, key_pair[0], attest=["evaluation"])
    ok = verify(
        plain_registry, str(ref), _policy(key_pair[1], require=[], model_version="7"), tmp_path
    )
    assert ok.passed and ok.requirements[-1].reason == "7 (evaluation attestation)"
