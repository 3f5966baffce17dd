"""Plain HTTP is allowed only to this machine: a loopback address or ``localhost``.

Registry credentials and identity tokens travel over these connections; anywhere else they must
be protected by TLS, whatever a flag or ``LOCKGATE_VERIFY_PLAIN_HTTP`` says.
"""

from __future__ import annotations

import ipaddress
import urllib.parse

from lockgate.errors import LockgateError


def is_loopback_host(host: str) -> bool:
    """``host`` (optionally ``:port``, IPv6 in brackets) names this machine."""
    name = host.strip()
    if name.startswith("["):
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def require_plain_http_loopback(host: str, what: str) -> None:
    if not is_loopback_host(host):
        raise LockgateError(
            f"{what}: plain HTTP to {host} refused: only loopback registries may be reached "
            "without TLS; use https (and a CA file for a private CA)"
        )


def require_https_or_loopback(url: str, what: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and is_loopback_host(parts.netloc.rpartition("@")[2]):
        return
    raise LockgateError(f"{what}: {url!r} must be an https URL (plain http only on loopback)")
