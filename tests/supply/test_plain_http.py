"""A plain-HTTP registry on loopback: HTTPS to it gets a hint naming --plain-http (not
`[SSL: WRONG_VERSION_NUMBER]` after four retries); --plain-http reaches it from promote's
verifier; plain HTTP to a host off loopback is refused. Real registry (distribution) and cosign."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from lockgate.delivery.promotion.verifier import SupplyVerifier
from lockgate.errors import LockgateError
from lockgate.supply.registry import RegistryClient, RegistryError
from lockgate.supply.registry_http import RegistryAccess, is_loopback
from lockgate.supply.verify import verify_ref
from lockgate.supply.verify_policy import load_verify_policy
from tests.projects import lockgate
from tests.supply.conftest import PushImage
from tests.supply.registry_server import RegistryServer


def test_https_to_a_plain_registry_says_to_pass_plain_http(
    plain_registry: RegistryServer, push_image: PushImage
) -> None:
    ref = push_image(plain_registry, "team/model", {"app/model.txt": b"weights"})
    sleeps: list[float] = []
    client = RegistryClient(RegistryAccess(plain_registry.host), sleep=sleeps.append)
    with pytest.raises(RegistryError) as caught:
        client.has_blob(ref, "sha256:" + "0" * 64)
    message = str(caught.value)
    assert f"registry {plain_registry.host} answers plain HTTP, not HTTPS" in message
    assert "pass --plain-http" in message
    assert "WRONG_VERSION_NUMBER" not in message
    assert sleeps == []  # no retries: another attempt cannot help


def test_promotes_verifier_reaches_a_loopback_registry_with_plain_http(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    ref = push_image(plain_registry, "team/model", {"app/model.txt": b"weights"})
    (tmp_path / "verify.yaml").write_text(f"key: {key_pair[1]}\n")
    pipeline = SimpleNamespace(policy=SimpleNamespace(verify="verify.yaml"))
    without = SupplyVerifier(pipeline, tmp_path).verify(str(ref))
    assert not without.passed
    assert any("pass --plain-http" in r for r in without.reasons), without.reasons
    verdict = SupplyVerifier(pipeline, tmp_path, plain_http=True).verify(str(ref))
    assert not verdict.passed  # unsigned: refused by verification itself, not by the transport
    assert not any("plain HTTP" in r or "SSL" in r for r in verdict.reasons), verdict.reasons


def test_plain_http_off_loopback_is_refused() -> None:
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost:5000")
    assert not is_loopback("registry.example:5000")
    assert not is_loopback("127.evil.example:5000")
    policy = load_verify_policy(None, {"key": "cosign.pub"})
    with pytest.raises(LockgateError, match=r"plain HTTP to registry\.example:5000 refused"):
        verify_ref("registry.example:5000/m@sha256:" + "1" * 64, policy, plain_http=True)


def test_promote_and_rollback_accept_plain_http(tmp_path) -> None:
    for command in ("promote", "rollback"):
        result = lockgate(command, "--help", cwd=tmp_path)
        assert result.code == 0
        assert "--plain-http" in result.stdout
