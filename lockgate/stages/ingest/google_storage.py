"""Google Cloud Storage through gcsfs, given only what the stage declares.

gcsfs gets ``anon`` or credentials built here, never a name that would make it search the host
(application default credentials, the gcloud config, the instance metadata server) nor a raw
token string (whose expiry it would look up on Google's servers). A service account's token is
granted before the filesystem is made, so a refused key is reported at once: gcsfs retries an
authentication failure as if it were transient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockgate.stages.ingest.postgres import SourceError

FIELD = "with.source.files.credentials"


def open_gcs(url: str, opts: Mapping[str, Any]) -> tuple[Any, str]:
    """The plain GCS filesystem: the extended one that gcsfs registers for ``gs://`` first asks
    a gRPC control API for each bucket's type, and waits a minute when it does not answer."""
    import gcsfs.core  # the package first: without it this raises ImportError

    token = gcs_token(opts["token"])
    fs = gcsfs.core.GCSFileSystem(**(dict(opts) | {"token": token, "access": "read_only"}))
    return fs, gcsfs.core.GCSFileSystem._strip_protocol(url)


def gcs_token(token: str | dict[str, Any]) -> Any:
    """What gcsfs gets as ``token``: ``anon``, or credentials built here (never a name that
    would make it search the host, nor a raw token whose expiry it would look up online)."""
    if isinstance(token, dict):
        return service_account_credentials(token)
    if token == "anon":
        return token
    from google.oauth2.credentials import Credentials

    return Credentials(token)


GCS_READ_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"


def service_account_credentials(info: dict[str, Any]) -> Any:
    """A service account's credentials with a token already granted (read-only scope): a
    refused key or an unreachable token endpoint is reported at once, where gcsfs would retry
    a refusal as if it were transient."""
    import functools

    import google.auth.exceptions
    import requests
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    try:
        creds = service_account.Credentials.from_service_account_info(info, scopes=[GCS_READ_SCOPE])
    except (ValueError, KeyError) as exc:
        raise SourceError(
            f"{FIELD}.service_account_json: not a usable service account key "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'missing field'})"
        ) from None
    with requests.Session() as session:
        try:
            creds.refresh(functools.partial(Request(session), timeout=10))
        except google.auth.exceptions.RefreshError as exc:
            reason = str(exc.args[0]) if exc.args else type(exc).__name__
            raise PermissionError(f"the token endpoint refused the key: {reason}") from None
        except google.auth.exceptions.TransportError as exc:
            raise ConnectionError(f"cannot connect to the token endpoint: {exc}") from None
    return creds
