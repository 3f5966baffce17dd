"""Attacks on verify that need registry push rights only, no signing key, against a real
registry and real trivy and cosign: the registry's layer order must never decide the verdict."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from lockgate.supply.image_ref import ImageRef

from .conftest import PushImage
from .pipeline import fake_aws_key, reasons, reorder_attestations, scan_passed_in, verify
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
