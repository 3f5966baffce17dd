"""JSON over HTTPS for the KMS clients that speak a REST API: one POST, its status and body.

Plain HTTP only to a loopback address (a local stand-in for the service); anywhere else a token,
a client secret or a signed assertion travels only over TLS. A connection that cannot be made
within :data:`TIMEOUT` seconds is :class:`Unreachable`, never a traceback. Redirects are not
followed: a bearer token is sent only to the URL lockgate was configured with.
"""

from __future__ import annotations

import json
import ssl
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lockgate.engine.sealing import SealError
from lockgate.loopback import is_loopback_host

TIMEOUT = 10.0  # seconds: a KMS answers in milliseconds; an unreachable one fails fast


class Unreachable(Exception):
    """No HTTP answer at all: refused, timed out, no route, TLS failed."""


def base_url(url: str, what: str) -> str:
    """``url`` without a trailing slash, if it is https (or http on loopback)."""
    parts = urllib.parse.urlsplit(url.strip())
    secure = parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.netloc))
    if not secure or not parts.netloc:
        raise SealError(f"{what}: {url.strip()!r} must be an https:// URL (http only on loopback)")
    return url.strip().rstrip("/")


def trust(ca_file: Path | None, where: str) -> ssl.SSLContext | None:
    """The TLS context of every KMS connection: the certificate must chain to a CA in
    ``ca_file`` (``encryption.ca_file``) instead of the system's trust store, and name the host.
    None (no file): the system's trust store. Verification is never turned off."""
    if ca_file is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise SealError(
            f"{where}: encryption.ca_file {ca_file}: not a readable PEM CA bundle "
            f"({getattr(exc, 'strerror', None) or exc}); name the PEM file of the CA that signed "
            "the KMS's certificate, relative to the project"
        ) from None


def tls_reason(exc: BaseException) -> str:
    """Why a connection failed, with what to do when it is the server's certificate."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ssl.SSLCertVerificationError):
        detail = (reason.verify_message or str(reason)).rstrip(".")
        return (
            f"TLS: the server's certificate is not trusted: {detail}; check encryption.ca_file "
            "(the CA that signed the KMS's certificate) and the host name in the KMS address"
        )
    if isinstance(reason, ssl.SSLError):
        return f"TLS handshake failed: {reason.reason or reason}; is it an HTTPS server?"
    return str(reason)


def host_url(host: str) -> str:
    """The base URL of a host named in a KMS URI: https, or http for a loopback address."""
    return f"{'http' if is_loopback_host(host) else 'https'}://{host}"


def post(
    url: str,
    headers: Mapping[str, str],
    *,
    json_body: Mapping[str, Any] | None = None,
    form: Mapping[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST a JSON body or a form; ``(status, JSON answer)``, ``{}`` if the answer is not JSON."""
    import urllib.error
    import urllib.request

    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        kind = "application/x-www-form-urlencoded"
    else:
        data, kind = json.dumps(dict(json_body or {})).encode(), "application/json"
    request = urllib.request.Request(
        url, data=data, headers={**headers, "Content-Type": kind}, method="POST"
    )
    handlers: list[Any] = [_no_redirect()]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=TIMEOUT) as resp:
            return resp.status, _json(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, _json(exc.read())
        finally:
            exc.close()
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise Unreachable(tls_reason(exc)) from None


def lifetime(expires_in: object) -> float:
    """Seconds an access token lives, from a token answer's ``expires_in`` (a number, or the
    digits some endpoints send as a string); 50 minutes when it says nothing usable."""
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        return float(expires_in)
    if isinstance(expires_in, str) and expires_in.strip().isdigit():
        return float(expires_in.strip())
    return 3000.0


def minted_token(credentials: Mapping[str, str], name: str, where: str) -> tuple[str, float]:
    """A minted access token and its expiry (Unix seconds), as a stage is handed them in
    ``NAME`` and ``NAME_EXPIRY``."""
    token, expiry = credentials.get(name, "").strip(), credentials.get(f"{name}_EXPIRY", "")
    try:
        return token, float(expiry)
    except ValueError:
        raise SealError(f"{where}: credential {name}_EXPIRY: not a time in Unix seconds") from None


def live_token(token: tuple[str, float] | None, service: str, where: str) -> str:
    """A minted access token, refused once it has expired (there is nothing to renew it with)."""
    import time

    assert token is not None
    if token[1] <= time.time():
        import datetime

        at = datetime.datetime.fromtimestamp(token[1], datetime.UTC).strftime("%H:%M:%S UTC")
        raise SealError(
            f"{where}: the access token minted for this stage expired at {at}, before its call "
            f"to {service}; a stage given minted credentials must reach the KMS within the "
            "token's lifetime (see docs/encryption.md)"
        )
    return token[0]


def _no_redirect() -> Any:
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # the 3xx answer comes back as it is, and is refused as unexpected

    return NoRedirect()


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
