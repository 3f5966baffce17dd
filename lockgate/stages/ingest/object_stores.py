"""Object stores behind fsspec URLs, and how a stage's declared secrets become their options.

Each store takes a fixed set of credential fields, and a stage gives them only through its
declared secrets (``with.source.files.credentials``). Nothing is taken from the host: the S3
client gets an AWS session that reads no environment variable and no ``~/.aws`` file, and a
store given no credentials is opened anonymously rather than through the SDK's default chain
(environment, profile files, instance metadata), so a stage sees only what it declares.

=======  ================================  ==========================================
scheme   fields (each a secret's value)    filesystem options
=======  ================================  ==========================================
s3       access_key_id, secret_access_key  s3fs ``key``, ``secret``, ``token``,
         session_token, endpoint_url,      ``endpoint_url``, ``client_kwargs.region_name``
         region                            (``anon`` without a key)
gs       service_account_json,             gcsfs ``token`` (the key file's JSON object, or
         access_token, project,            an OAuth2 access token), ``project``,
         endpoint_url                      ``endpoint_url`` (``anon`` without a credential)
az       account_name, account_key,        adlfs ``account_name``, ``account_key``,
         sas_token, connection_string,     ``sas_token``, ``connection_string``,
         tenant_id, client_id,             ``account_host``; with ``endpoint_url`` (a blob
         client_secret,                    endpoint such as Azurite's) a connection string
         client_certificate,               naming it (``anon`` without a credential); a
         federated_token, authority_host,  service principal becomes a credential made in
         account_host, endpoint_url        :mod:`azure_blob`
=======  ================================  ==========================================

Other schemes (``file``, ``memory``, ...) take the secret's JSON object as their options as is.

The Google and Azure SDKs read their settings from the environment when the filesystem is
created (``GOOGLE_*``, ``STORAGE_EMULATOR_HOST``, ``AZURE_STORAGE_*``, ...): those variables are
hidden while it is, and Google's default credentials (``gcloud`` config, the instance metadata
server) are never asked, because a GCS filesystem always gets an explicit token or ``anon``.
Each call to a store, its client's retries included, must be answered within
:data:`LIST_TIMEOUT_S` (:func:`within`): a page of a listing, an object's lookup. The clients
retry a refused connection for half a minute (GCS) or minutes (Azure) otherwise, and wait on a
silent store for many minutes (S3 too: botocore asks again on every read timeout). The bound is
a page's, not a whole listing's, so a long listing of a working store is never cut. Each fetch
of an object's bytes may take that bound plus four seconds a MiB fetched (:func:`fetch_bound`),
so a large object on a slow but working link (down to 256 KiB/s) is not cut either: a false
failure there would stop a pipeline that works, where a dead store is only found later.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from lockgate.contract import CONTAINER_OUT
from lockgate.stages.ingest.azure_storage import azure_options
from lockgate.stages.ingest.postgres import SourceError

FIELD = "with.source.files.credentials"
GCS_ENDPOINT = "https://storage.googleapis.com"
LIST_TIMEOUT_S = 15.0  # one call to a store: a page of a listing, a lookup
READ_RATE = 2**18  # bytes a second the slowest read of an object is allowed beyond the bound

T = TypeVar("T")


@dataclass(frozen=True)
class ObjectStore:
    """One kind of object store: its schemes, the package fsspec needs, its credential fields."""

    name: str
    schemes: tuple[str, ...]
    package: str
    install: str
    fields: tuple[str, ...]
    options: Callable[[Mapping[str, str]], dict[str, Any]]
    # environment variables (by prefix) the SDK would read when the filesystem is created
    hidden_env: tuple[str, ...] = ()


def _s3(values: Mapping[str, str]) -> dict[str, Any]:
    key, secret = values.get("access_key_id"), values.get("secret_access_key")
    if bool(key) != bool(secret):
        raise SourceError(f"{FIELD}: give both access_key_id and secret_access_key, or neither")
    if values.get("session_token") and not key:
        raise SourceError(f"{FIELD}: session_token needs access_key_id and secret_access_key")
    opts: dict[str, Any] = {"anon": not key}
    if key:
        opts |= {"key": key, "secret": secret}
    if values.get("session_token"):
        opts["token"] = values["session_token"]
    if values.get("endpoint_url"):
        opts["endpoint_url"] = values["endpoint_url"]
    if values.get("region"):
        opts["client_kwargs"] = {"region_name": values["region"]}
    # One attempt with short timeouts: a wrong endpoint is an error in seconds, not minutes
    # (each request is also bounded as a whole: amazon_s3)
    opts["config_kwargs"] = {
        "connect_timeout": 5,
        "read_timeout": LIST_TIMEOUT_S,
        "retries": {"max_attempts": 1},
    }
    return opts


def _gcs(values: Mapping[str, str]) -> dict[str, Any]:
    # An explicit endpoint always: gcsfs would otherwise take STORAGE_EMULATOR_HOST's.
    opts: dict[str, Any] = {"token": "anon", "endpoint_url": GCS_ENDPOINT}
    if values.get("service_account_json") and values.get("access_token"):
        raise SourceError(f"{FIELD}: give service_account_json or access_token, not both")
    if values.get("service_account_json"):
        try:
            info = json.loads(values["service_account_json"])
        except json.JSONDecodeError:
            info = None
        if not isinstance(info, dict):
            raise SourceError(
                f"{FIELD}.service_account_json: the secret must hold the service account's "
                "JSON key file"
            )
        opts["token"] = info
    elif values.get("access_token"):
        opts["token"] = values["access_token"]
    for field in ("project", "endpoint_url"):
        if values.get(field):
            opts[field] = values[field]
    return opts


STORES = {
    "s3": ObjectStore(
        "S3",
        ("s3", "s3a"),
        "s3fs",
        "pip install 'lockgate[ingest-s3]'",
        ("access_key_id", "secret_access_key", "session_token", "endpoint_url", "region"),
        _s3,
    ),
    "gs": ObjectStore(
        "Google Cloud Storage",
        ("gs", "gcs"),
        "gcsfs",
        "pip install 'lockgate[ingest-gcs]'",
        ("service_account_json", "access_token", "project", "endpoint_url"),
        _gcs,
        ("GOOGLE_", "GCE_", "GCLOUD", "CLOUDSDK_", "STORAGE_EMULATOR_HOST", "GCSFS_"),
    ),
    "az": ObjectStore(
        "Azure Blob Storage",
        ("az", "abfs", "abfss"),
        "adlfs",
        "pip install 'lockgate[ingest-azure]'",
        (
            "account_name",
            "account_key",
            "sas_token",
            "connection_string",
            "tenant_id",
            "client_id",
            "client_secret",
            "client_certificate",
            "federated_token",
            "authority_host",
            "account_host",
            "endpoint_url",
        ),
        azure_options,
        ("AZURE_",),
    ),
}


def store_for(url: str) -> ObjectStore | None:
    scheme = url.split("://", 1)[0].lower()
    return next((s for s in STORES.values() if scheme in s.schemes), None)


def credential_values(
    credentials: str | Mapping[str, str] | None, secret: Callable[[str], str]
) -> dict[str, Any]:
    """The declared credentials: one secret holding a JSON object, or one secret per field."""
    if credentials is None:
        return {}
    if not isinstance(credentials, str):
        return {field: secret(name).strip() for field, name in credentials.items()}
    try:
        values = json.loads(secret(credentials))
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{FIELD}: secret {credentials!r} must hold a JSON object ({type(exc).__name__})"
        ) from None
    if not isinstance(values, dict):
        raise SourceError(f"{FIELD}: secret {credentials!r} must hold a JSON object")
    return values


def filesystem_options(url: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The fsspec options for ``url`` from the declared credential values."""
    store = store_for(url)
    if store is None:
        return dict(values)
    unknown = sorted(set(values) - set(store.fields))
    if unknown:
        raise SourceError(
            f"{FIELD}: {store.name} takes no {unknown[0]!r}; its fields are "
            + ", ".join(store.fields)
        )
    if any(not isinstance(v, str) for v in values.values()):
        raise SourceError(f"{FIELD}: every {store.name} credential field is a string")
    opts = store.options(values)
    # Each run lists the store afresh: a cached listing would hide objects that arrived since.
    return opts | {"skip_instance_cache": True, "use_listings_cache": False}


def missing_package(url: str) -> str:
    store = store_for(url)
    if store is None:
        return "install the fsspec filesystem package for this scheme"
    if os.environ.get("LOCKGATE_OUT") == CONTAINER_OUT:  # a runner image lacks it, not the host
        return (
            f"reading {store.name} needs {store.package} in the stage's image: list it in the "
            "file image.requirements names (or install it in image.dockerfile)"
        )
    return f"reading {store.name} needs {store.package}: {store.install}"


def missing_bucket(fs: Any, url: str, root: str) -> str | None:
    """The bucket (or container) of an object-store URL when it does not exist."""
    if store_for(url) is None:
        return None
    bucket = root.split("/", 1)[0]
    return None if fs.exists(bucket) else bucket


def open_filesystem(url: str, opts: Mapping[str, Any]) -> tuple[Any, str]:
    """The filesystem and the path inside it; an S3 client gets the isolated AWS session."""
    import fsspec

    store = store_for(url)
    if store is STORES["s3"]:
        from lockgate.stages.ingest.amazon_s3 import open_s3

        return open_s3(url, s3_trust(opts), isolated_aws_session())
    if store is None:
        return fsspec.core.url_to_fs(url, **opts)
    with hidden_environment(store.hidden_env):
        if store is STORES["gs"]:
            from lockgate.stages.ingest.google_storage import open_gcs

            _quiet("gcsfs")
            return open_gcs(url, opts)
        from lockgate.stages.ingest.azure_blob import open_azure

        _quiet("azure")
        return open_azure(url, opts)


def s3_trust(opts: Mapping[str, Any]) -> dict[str, Any]:
    """The S3 options with ``ca_file`` as botocore's ``verify``: the only CA its TLS trusts."""
    from lockgate.stages.ingest.store_tls import require_https, trusted_ca

    options = dict(opts)
    ca = options.pop("ca_file", None)
    if ca:
        require_https(options.get("endpoint_url"), f"{FIELD}.endpoint_url")
        options["client_kwargs"] = options.get("client_kwargs", {}) | {"verify": trusted_ca(ca)}
    return options


def _quiet(name: str) -> None:
    """No retry tracebacks from ``name`` on stderr when the program configured no logging:
    the stage reports the failure as one line."""
    logger = logging.getLogger(name)
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


class ListedLookups:
    """Mixed into this package's filesystems: a lookup of an object the run's listing named is
    answered from that listing (:func:`listed`), any other is bounded by :data:`LIST_TIMEOUT_S`."""

    listed: Mapping[str, Any] = MappingProxyType({})  # replaced by remember_listing

    async def _info(self, path: str, *args: Any, **kwargs: Any) -> Any:
        known = None if args else listed(self, path, kwargs)
        if known is not None:
            return known
        return await within(LIST_TIMEOUT_S, super()._info(path, *args, **kwargs))  # type: ignore[misc]


def remember_listing(fs: Any, found: Mapping[str, Any]) -> None:
    """Keep on ``fs`` what its listing said of each object (the filesystems of this package
    have a ``listed`` attribute), for :func:`listed`."""
    if hasattr(fs, "listed"):
        fs.listed = {name: info for name, info in found.items() if info.get("type") == "file"}


def listed(fs: Any, path: str, asked: Mapping[str, Any]) -> Any:
    """What the run's listing said of the object ``path``, or None (not listed, or a lookup of
    a version or a refresh): an object is opened as the listing that chose it described it,
    without one more request each (GCS makes two: an object lookup and a listing, raced).
    One deleted since is found when its bytes are fetched."""
    if any(asked.get(k) for k in ("refresh", "version_id", "generation")):
        return None
    return fs.listed.get(fs._strip_protocol(path))


def fetch_bound(nbytes: int | None) -> float | None:
    """How long one fetch of ``nbytes`` of an object may take: the listing's bound plus four
    seconds a MiB (a fetch of an unknown length is not bounded)."""
    if nbytes is None:
        return None
    return LIST_TIMEOUT_S + max(nbytes, 0) / READ_RATE


class NoAnswer(Exception):
    """The store did not answer, or a fetch did not finish, within its bound. Not a
    TimeoutError: fsspec turns one into an empty timeout error, which loses the bound (and
    which s3fs's read of a range then fails to unpack: an IndexError)."""


async def within(seconds: float | None, call: Awaitable[T], late: str = "no answer") -> T:
    """``call``'s result, or :class:`NoAnswer` saying how long the store was given: the
    clients retry a lost store for minutes (a silent one for far longer) otherwise. ``late``
    says what did not happen in time; ``seconds`` None waits as long as the client does."""
    if seconds is None:
        return await call
    try:
        return await asyncio.wait_for(call, seconds)
    except TimeoutError:
        raise NoAnswer(f"{late} within {round(seconds, 1):g} s") from None


async def fetched(nbytes: int | None, call: Awaitable[T]) -> T:
    """``call``, a fetch of ``nbytes`` of an object, within :func:`fetch_bound`. A fetch that
    its client asks again and again (a connection reset partway, each time) ends there too."""
    return await within(fetch_bound(nbytes), call, late="the fetch did not finish")


@contextmanager
def hidden_environment(prefixes: tuple[str, ...]) -> Iterator[None]:
    """The process environment without the variables starting with ``prefixes``, restored
    after (the stage process does nothing else meanwhile)."""
    hidden = {k: v for k, v in os.environ.items() if k.startswith(prefixes)} if prefixes else {}
    for name in hidden:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(hidden)


def isolated_aws_session() -> Any:
    """An AWS session that reads no environment variable and no ``~/.aws`` file."""
    from aiobotocore.session import AioSession

    session = AioSession()
    for name, (config_name, _env, default, convert) in list(session.session_var_map.items()):
        if name in ("config_file", "credentials_file"):
            default = os.devnull
        session.session_var_map[name] = (config_name, None, default, convert)
    session.set_config_variable("ignore_configured_endpoint_urls", True)
    return session
