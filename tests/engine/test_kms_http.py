"""The REST helper the Cloud KMS and Key Vault clients share: which URLs may carry a token, and
how long an issued token is trusted."""

from __future__ import annotations

import pytest

from lockgate.engine.kms.http import base_url, host_url, lifetime
from lockgate.engine.sealing import SealError


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://cloudkms.googleapis.com/", "https://cloudkms.googleapis.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:9000/", "http://[::1]:9000"),
        ("http://localhost:1", "http://localhost:1"),
        ("http://kms.internal.example", None),
        ("ftp://kms.example.com", None),
        ("cloudkms.googleapis.com", None),
    ],
)
def test_only_tls_or_loopback_may_carry_a_token(url: str, ok: str | None) -> None:
    if ok is not None:
        assert base_url(url, "GOOGLE_KMS_ENDPOINT") == ok
    else:
        with pytest.raises(SealError, match="must be an https:// URL"):
            base_url(url, "GOOGLE_KMS_ENDPOINT")


def test_a_vault_host_is_https_unless_loopback() -> None:
    assert host_url("my-vault.vault.azure.net") == "https://my-vault.vault.azure.net"
    assert host_url("127.0.0.1:8443") == "http://127.0.0.1:8443"


@pytest.mark.parametrize(
    ("expires_in", "seconds"),
    [(3599, 3599.0), ("3599", 3599.0), (None, 3000.0), ("soon", 3000.0), (True, 3000.0)],
)
def test_token_lifetime_from_the_answer(expires_in: object, seconds: float) -> None:
    assert lifetime(expires_in) == seconds
