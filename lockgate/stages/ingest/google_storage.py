"""Google Cloud Storage through gcsfs, given only what the stage declares.

gcsfs gets ``anon`` or credentials built here, never a name that would make it search the host
(application default credentials, the gcloud config, the instance metadata server) nor a raw
token string (whose expiry it would look up on Google's servers). A service account's token is
granted before the filesystem is made, so a refused key is reported at once: gcsfs retries an
authentication failure as if it were transient. With ``with.source.files.ca_file`` the HTTPS
session and every token grant trust that CA only (:mod:`store_tls`); an untrusted certificate
fails at once, where gcsfs would retry it for a minute. Each page of a listing, an object's
lookup and each fetch of its bytes are bounded in time (:func:`object_stores.within`): gcsfs
retries a lost store for half a minute, and waits on a silent one without end.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from typing import Any

from lockgate.stages.ingest import object_stores
from lockgate.stages.ingest.postgres import SourceError
from lockgate.stages.ingest.store_tls import pinned_session, require_https, tls_context

FIELD = "with.source.files.credentials"


def open_gcs(url: str, opts: Mapping[str, Any]) -> tuple[Any, str]:
    """The plain GCS filesystem: the extended one that gcsfs registers for ``gs://`` first asks
    a gRPC control API for each bucket's type, and waits a minute when it does not answer.
    With ``ca_file`` its session and the token endpoint trust that CA only (:mod:`store_tls`)."""
    import gcsfs.core  # the package first: without it this raises ImportError

    options = dict(opts)
    ca = options.pop("ca_file", None)
    trust = None
    if ca:
        trust = tls_context(ca)
        require_https(options.get("endpoint_url"), f"{FIELD}.endpoint_url")
    token = gcs_token(options["token"], ca)
    fs = trusted_filesystem_class()(**(options | {"token": token, "access": "read_only"}))
    fs.trust = trust
    return fs, gcsfs.core.GCSFileSystem._strip_protocol(url)


class UntrustedCertificate(Exception):
    """The store's certificate failed verification: gcsfs would retry aiohttp's error for a
    minute, but a certificate does not become trusted by asking again. (Not an ``OSError``:
    aiohttp would wrap that in an error gcsfs retries.)"""


@functools.cache
def trusted_filesystem_class() -> Any:
    """gcsfs's filesystem whose aiohttp session verifies against ``trust`` when it is set (the
    default context otherwise) and gives up at once on an untrusted certificate, and whose
    listing pages, object lookups and reads are bounded in time. gcsfs takes a connector in
    ``session_kwargs``, but one can only be made in its event loop."""
    import aiohttp
    import gcsfs.core

    class VerifyingConnector(aiohttp.TCPConnector):
        async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
            try:
                return await super().connect(req, traces, timeout)
            except aiohttp.ClientConnectorCertificateError as exc:
                raise UntrustedCertificate(str(exc)) from None

    class TrustedGCSFileSystem(object_stores.ListedLookups, gcsfs.core.GCSFileSystem):
        trust: ssl.SSLContext | None = None

        async def _set_session(self) -> Any:
            if self._session is None:
                connector = VerifyingConnector(ssl=self.trust or True)
                kwargs: dict[str, Any] = getattr(self, "session_kwargs", {})
                self.session_kwargs = {**kwargs, "connector": connector}
            return await super()._set_session()

        async def _call_list_objects(self, bucket: str, **kwargs: Any) -> Any:
            # one page of a listing: a long listing of a working store is never cut
            page = super()._call_list_objects(bucket, **kwargs)
            return await object_stores.within(object_stores.LIST_TIMEOUT_S, page)

        async def _cat_file_sequential(
            self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
        ) -> Any:
            # every fetch of bytes comes here: a whole read, a range, each part of a
            # concurrent or prefetched read
            known = object_stores.listed(self, path, {})
            whole = known.get("size") if known is not None else None
            first, last = start or 0, whole if end is None else end
            size = None if last is None else int(last) - first
            fetch = super()._cat_file_sequential(path, start=start, end=end, **kwargs)
            return await object_stores.fetched(size, fetch)

    return TrustedGCSFileSystem


def gcs_token(token: str | dict[str, Any], ca: str | None = None) -> Any:
    """What gcsfs gets as ``token``: ``anon``, or credentials built here (never a name that
    would make it search the host, nor a raw token whose expiry it would look up online)."""
    if isinstance(token, dict):
        return service_account_credentials(token, ca)
    if token == "anon":
        return token
    from google.oauth2.credentials import Credentials

    return Credentials(token)


GCS_READ_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
TOKEN_TIMEOUT_S = 10


def service_account_credentials(info: dict[str, Any], ca: str | None = None) -> Any:
    """A service account's credentials with a token already granted (read-only scope): a
    refused key or an unreachable token endpoint is reported at once, where gcsfs would retry
    a refusal as if it were transient. Every grant, this one and gcsfs's refreshes, goes
    through a session that trusts ``ca`` only when it is given."""
    import google.auth.exceptions

    if ca:
        require_https(info.get("token_uri"), f"{FIELD}.service_account_json's token_uri")
    try:
        creds = pinned_credentials_class().from_service_account_info(info, scopes=[GCS_READ_SCOPE])
    except (ValueError, KeyError) as exc:
        raise SourceError(
            f"{FIELD}.service_account_json: not a usable service account key "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'missing field'})"
        ) from None
    creds.ca = ca
    try:
        creds.refresh(None)
    except google.auth.exceptions.RefreshError as exc:
        reason = str(exc.args[0]) if exc.args else type(exc).__name__
        raise PermissionError(f"the token endpoint refused the key: {reason}") from None
    except google.auth.exceptions.TransportError as exc:
        raise ConnectionError(f"cannot connect to the token endpoint: {exc}") from None
    return creds


@functools.cache
def pinned_credentials_class() -> Any:
    """Service-account credentials that ask for each token through their own session (the
    declared CA, a timeout), whatever session the caller offers."""
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    class PinnedServiceAccount(service_account.Credentials):
        ca: str | None = None

        def refresh(self, request: Any) -> None:
            with pinned_session(self.ca) as session:
                super().refresh(functools.partial(Request(session), timeout=TOKEN_TIMEOUT_S))

    return PinnedServiceAccount
