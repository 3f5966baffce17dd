"""Plain HTTP only to this machine: registries (whatever ``plain_http`` or
``LOCKGATE_VERIFY_PLAIN_HTTP`` say) and OIDC issuers."""

from __future__ import annotations

import pytest

from lockgate.errors import LockgateError
from lockgate.loopback import is_loopback_host, require_https_or_loopback
from lockgate.supply.registry_http import RegistryAccess


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.8.9.10", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("10.0.0.5:5000", False),
        ("registry.example.org", False),
        ("127.0.0.1.nip.io:5000", False),
        ("localhost.example.org", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_plain_http_registry_elsewhere_is_refused() -> None:
    assert RegistryAccess("127.0.0.1:5000", plain_http=True).base_url == "http://127.0.0.1:5000"
    assert RegistryAccess("registry.example.org").base_url == "https://registry.example.org"
    with pytest.raises(LockgateError, match=r"plain HTTP to registry\.example\.org refused"):
        RegistryAccess("registry.example.org", "u", "p", plain_http=True)


def test_issuer_urls_need_https_off_loopback() -> None:
    require_https_or_loopback("https://token.actions.githubusercontent.com", "issuer")
    require_https_or_loopback("http://127.0.0.1:8080/x", "issuer")
    with pytest.raises(LockgateError, match="must be an https URL"):
        require_https_or_loopback("http://gitlab.example.org", "issuer")
    with pytest.raises(LockgateError, match="must be an https URL"):
        require_https_or_loopback("http://user@evil.example@127.0.0.1.example", "issuer")
