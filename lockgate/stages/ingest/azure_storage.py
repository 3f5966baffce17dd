"""Azure Blob Storage options for adlfs from the declared credential fields.

A blob endpoint given as ``endpoint_url`` (Azurite's, a private endpoint over plain HTTP) becomes
a connection string that names it together with the account key or SAS token: adlfs builds
``https://`` URLs from ``account_host`` and takes any other endpoint only that way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockgate.stages.ingest.postgres import SourceError

FIELD = "with.source.files.credentials"

AZURE_CREDENTIALS = ("account_key", "sas_token", "connection_string", "client_secret")


def azure_options(values: Mapping[str, str]) -> dict[str, Any]:
    opts: dict[str, Any] = {k: v for k, v in values.items() if v}
    if values.get("client_secret") and not (values.get("tenant_id") and values.get("client_id")):
        raise SourceError(f"{FIELD}: client_secret needs tenant_id and client_id")
    if opts.get("endpoint_url"):
        opts = _azure_endpoint(opts)
    if not any(values.get(k) for k in AZURE_CREDENTIALS):
        opts["anon"] = True
    # A refused or silent endpoint fails each attempt in seconds.
    return opts | {"connection_timeout": 5}


def _azure_endpoint(opts: dict[str, Any]) -> dict[str, Any]:
    """A blob endpoint URL (Azurite's, a private endpoint) as the connection string the SDK
    takes for it, with the account key or SAS token in it."""
    endpoint = opts.pop("endpoint_url").rstrip("/")
    if not endpoint.startswith(("http://", "https://")):
        raise SourceError(f"{FIELD}.endpoint_url: give a URL such as http://HOST:PORT/ACCOUNT")
    clash = [k for k in ("connection_string", "account_host", "client_secret") if k in opts]
    if clash:
        raise SourceError(
            f"{FIELD}: endpoint_url goes with account_key or sas_token, not {clash[0]}"
        )
    parts = [f"BlobEndpoint={endpoint}"]
    if opts.get("account_key"):
        if not opts.get("account_name"):
            raise SourceError(f"{FIELD}: account_key needs account_name")
        scheme = endpoint.split(":", 1)[0]
        parts = [f"DefaultEndpointsProtocol={scheme}", f"AccountName={opts['account_name']}"]
        parts += [f"AccountKey={opts['account_key']}", f"BlobEndpoint={endpoint}"]
    elif opts.get("sas_token"):
        parts.append(f"SharedAccessSignature={opts['sas_token'].lstrip('?')}")
    return {"connection_string": ";".join(parts) + ";"}
