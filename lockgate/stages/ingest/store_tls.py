"""The CA an object store's TLS is checked against: ``with.source.files.ca_file``.

The rule, the same for every store and its login host:

- with ``ca_file``, its certificates are the only ones trusted. The host's ``AWS_CA_BUNDLE``,
  ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` and ``SSL_CERT_FILE`` neither replace nor extend
  it, and every endpoint the declaration names (the store's ``endpoint_url``, a service
  account's ``token_uri``) must be ``https://``: a CA for a plain-HTTP endpoint would protect
  nothing.
- without it, each client trusts what it trusts by default (the system's store, or the bundle
  its library ships).

Verification is never turned off.
"""

from __future__ import annotations

import ssl
from typing import Any

from lockgate.stages.ingest.postgres import SourceError

FIELD = "with.source.files.ca_file"


def trusted_ca(path: str) -> str:
    """``path`` if it is a PEM CA bundle the TLS layer can load."""
    tls_context(path)
    return path


def tls_context(path: str) -> ssl.SSLContext:
    """A client context that verifies certificates and host names against ``path`` only."""
    try:
        # a ``cafile`` means the default paths (and SSL_CERT_FILE) are not loaded
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(
            f"{FIELD}: {path}: not a readable PEM CA bundle "
            f"({getattr(exc, 'strerror', None) or exc}); name the PEM file of the CA that signed "
            "the store's certificate, relative to the project"
        ) from None


def require_https(url: str | None, field: str) -> None:
    """Refuse a plain-HTTP ``url`` when a CA is declared (the value itself is not echoed: it
    comes from a secret)."""
    if url and not url.lower().startswith("https://"):
        raise SourceError(
            f"{FIELD} is declared, but {field} is not an https:// URL: a store given a CA is "
            "spoken to over TLS only; give the https:// address, or remove ca_file"
        )


def pinned_session(ca: str | None) -> Any:
    """A ``requests`` session whose HTTPS requests verify against ``ca`` only (the system's
    store without one). requests would let ``REQUESTS_CA_BUNDLE`` override a session's own
    ``verify``; the adapter sets it on each request instead."""
    import requests
    from requests.adapters import HTTPAdapter

    class PinnedCa(HTTPAdapter):
        def send(
            self,
            request: Any,
            stream: bool = False,
            timeout: Any = None,
            verify: bool | str = True,
            cert: Any = None,
            proxies: dict[str, str] | None = None,
        ) -> Any:
            return super().send(request, stream, timeout, ca or True, cert, proxies)

    session = requests.Session()
    if ca:
        session.mount("https://", PinnedCa())
    return session
