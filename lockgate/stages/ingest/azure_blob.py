"""Azure Blob Storage through adlfs, with the service client and the login made here.

adlfs would build its own blob service client and, for a service principal, its own credential
against the public cloud's login host with the system's trust store. Here the filesystem gets:

- a service client that checks the store's TLS certificate against ``with.source.files.ca_file``
  when one is named (the system's trust store otherwise; verification is never turned off);
- for a service principal, a credential of the Microsoft identity platform's client-credentials
  grant at ``AUTHORITY/TENANT/oauth2/v2.0/token`` (``authority_host`` or
  ``https://login.microsoftonline.com``; no instance discovery is made), with a client secret,
  an assertion signed with the app's certificate, or a federated token as the assertion,
  checked against the same CA. Its first token is
  asked for before the filesystem is made, so a refused secret is one line at once. The tokens
  stay in memory.

Each call to the store, its retries included, is bounded in time (:func:`object_stores.within`):
a page of a listing or a lookup by :data:`object_stores.LIST_TIMEOUT_S`, each fetch of a blob's
bytes by that plus its size at the slowest rate allowed. The blob SDK retries a lost store for
over a minute and a silent one for minutes.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from lockgate.stages.ingest import object_stores
from lockgate.stages.ingest.postgres import SourceError
from lockgate.stages.ingest.store_tls import trusted_ca

FIELD = "with.source.files.credentials"
AUTHORITY = "https://login.microsoftonline.com"
STORAGE_SCOPE = "https://storage.azure.com/.default"
TOKEN_TIMEOUT_S = 15.0


def open_azure(url: str, opts: Mapping[str, Any]) -> tuple[Any, str]:
    """The filesystem for an ``az://`` / ``abfs://`` URL and the path inside it."""
    cls = blob_filesystem_class()  # the package first: without it this raises ImportError
    options = cls._get_kwargs_from_urls(url) | dict(opts)
    ca_file = options.pop("ca_file", None)
    verify: str | bool = trusted_ca(ca_file) if ca_file else True
    credential = None
    if any(options.get(k) for k in ("client_secret", "client_certificate", "federated_token")):
        credential = principal_credential(options, verify)
    named = ("connection_string", "blob_endpoint", "account_name", "account_host")
    if not any(options.get(k) for k in named):
        raise SourceError(
            f"{FIELD}: name the storage account: account_name, account_host or endpoint_url"
        )
    fs = cls(verify=verify, credential=credential, **options)
    return fs, cls._strip_protocol(url)


def principal_credential(options: dict[str, Any], verify: str | bool) -> Any:
    """An async credential for the service principal in ``options`` (its fields removed from
    them), with a first token already granted."""
    from azure.identity.aio import (
        CertificateCredential,
        ClientAssertionCredential,
        ClientSecretCredential,
    )

    tenant, client = options.pop("tenant_id"), options.pop("client_id")
    authority = options.pop("authority_host", None) or AUTHORITY
    common: dict[str, Any] = {
        "authority": authority,
        "disable_instance_discovery": True,
        "connection_verify": verify,
        "connection_timeout": 5,
        "retry_total": 1,
    }
    secret, token = options.pop("client_secret", None), options.pop("federated_token", None)
    certificate = options.pop("client_certificate", None)
    credential: Any
    if secret:
        credential = ClientSecretCredential(tenant, client, secret, **common)
    elif certificate:
        try:
            credential = CertificateCredential(
                tenant, client, certificate_data=certificate.encode(), **common
            )
        except ValueError:
            raise SourceError(
                f"{FIELD}.client_certificate: the secret must hold the app certificate's private "
                "key and the certificate, PEM, unencrypted"
            ) from None
    else:
        credential = ClientAssertionCredential(tenant, client, lambda: token, **common)
    first_token(credential, authority, tenant, client)
    return credential


def first_token(credential: Any, authority: str, tenant: str, client: str) -> None:
    """Ask for a storage token now: a refusal or an unreachable login host is one line, with
    the identity platform's reason, before any listing."""
    from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
    from fsspec.asyn import get_loop, sync

    try:
        sync(get_loop(), credential.get_token, STORAGE_SCOPE, timeout=TOKEN_TIMEOUT_S)
        return
    except ClientAuthenticationError as exc:
        problem: Exception = PermissionError(
            f"Microsoft Entra ID at {authority} refused client {client} of tenant {tenant}: "
            f"{_reason(exc)}"
        )
    except (ServiceRequestError, OSError) as exc:
        problem = ConnectionError(
            f"cannot connect to the login host {authority} for a token: {_reason(exc)}"
        )
    sync(get_loop(), credential.close)  # its connection pool, before the stage stops
    raise problem from None


def _reason(exc: BaseException) -> str:
    """The identity platform's own reason (``AADSTS...: ...``) or the connection's, one line."""
    text = " ".join(str(getattr(exc, "message", None) or exc or type(exc).__name__).split())
    start = text.find("AADSTS")
    if start >= 0:
        return text[start:].split(" Trace ID:")[0]
    return text


def _untrusted(error: BaseException | None) -> bool:
    """Whether ``error`` (or what it wraps) is a certificate that failed verification."""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, ssl.SSLCertVerificationError):
            return True
        inner = getattr(error, "inner_exception", None)
        error, seen = (inner if isinstance(inner, BaseException) else error.__cause__), seen + 1
    return False


@functools.cache
def _retry_class() -> Any:
    """The blob SDK's exponential retry, except that an untrusted certificate is not retried
    (it will not become trusted; the default waits 15 s before the first retry)."""
    from azure.storage.blob.aio import ExponentialRetry

    class NoRetryOnUntrusted(ExponentialRetry):
        def increment(
            self, settings: Any, request: Any, response: Any = None, error: Any = None
        ) -> bool:
            if _untrusted(error):
                return False
            return bool(super().increment(settings, request, response, error))

        async def send(self, request: Any) -> Any:  # type: ignore[override]
            # (the aio policy's send is a coroutine) one call, its retries included; a
            # fetch of a blob's bytes is bounded by its size instead
            if _fetches_bytes(request.http_request):
                return await super().send(request)
            bound = object_stores.LIST_TIMEOUT_S
            return await object_stores.within(bound, super().send(request))

    return NoRetryOnUntrusted


def _fetches_bytes(request: Any) -> bool:
    """Whether a blob service request fetches a blob's bytes (``GET`` of a blob, with no
    ``comp`` or ``restype``): a listing page or a lookup is any other."""
    query = urlsplit(request.url).query
    return request.method == "GET" and "comp=" not in query and "restype=" not in query


@functools.cache
def bounded_file_class() -> Any:
    """adlfs's blob file whose every fetch is bounded in time (:func:`object_stores.within`)."""
    from adlfs.spec import AzureBlobFile
    from fsspec.asyn import sync_wrapper

    class BoundedBlobFile(AzureBlobFile):
        async def _async_fetch_range(self, start: int, end: int | None = None, **kw: Any) -> Any:
            size = (self.size if end is None else min(end, self.size)) - start
            fetch = super()._async_fetch_range(start, end, **kw)
            return await object_stores.fetched(size, fetch)

        _fetch_range = sync_wrapper(_async_fetch_range)

    return BoundedBlobFile


@functools.cache
def blob_filesystem_class() -> Any:
    """adlfs's filesystem whose service client this module makes (see the module's doc), and
    whose object lookups and reads are bounded in time."""
    from adlfs import AzureBlobFileSystem

    class DeclaredBlobFileSystem(object_stores.ListedLookups, AzureBlobFileSystem):
        def __init__(
            self, *, verify: str | bool = True, blob_endpoint: str | None = None, **kwargs: Any
        ) -> None:
            self._verify, self._blob_endpoint = verify, blob_endpoint
            super().__init__(**kwargs)

        def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
            # adlfs makes its own file class; a read gets the bounded one
            handle = super()._open(path, mode, **kwargs)
            if mode == "rb":
                handle.__class__ = bounded_file_class()
                handle.cache.fetcher = handle._fetch_range  # the cache took the unbounded one
            return handle

        def do_connect(self) -> None:
            from azure.core.credentials import AzureNamedKeyCredential
            from azure.storage.blob.aio import BlobServiceClient

            if self.connection_string:
                self.service_client = BlobServiceClient.from_connection_string(
                    self.connection_string,
                    connection_verify=self._verify,
                    retry_policy=_retry_class()(),
                )
                return
            host = getattr(self, "account_host", None)
            url = self._blob_endpoint or (
                f"https://{host}" if host else f"https://{self.account_name}.blob.core.windows.net"
            )
            self.account_url = url
            credential = self.credential
            if credential is None and self.account_key:
                credential = AzureNamedKeyCredential(self.account_name, self.account_key)
            if credential is None and self.sas_token:
                url = f"{url}?{self.sas_token.lstrip('?')}"
            self.service_client = BlobServiceClient(
                account_url=url,
                credential=credential,
                connection_verify=self._verify,
                retry_policy=_retry_class()(),
            )

    return DeclaredBlobFileSystem
