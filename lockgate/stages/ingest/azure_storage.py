"""Azure Blob Storage options for adlfs from the declared credential fields.

A blob endpoint given as ``endpoint_url`` (Azurite's, a private endpoint) becomes a connection
string that names it together with the account key or SAS token (adlfs builds ``https://`` URLs
from ``account_host`` and takes any other endpoint only that way), or, with a service
principal, the account URL its bearer tokens are sent to.

A service principal logs in through Microsoft Entra ID with ``tenant_id`` and ``client_id`` and
one of ``client_secret``, ``client_certificate`` (PEM: the private key and the certificate
registered on the app) or ``federated_token`` (an OIDC token from a CI system that the app
registration trusts); ``authority_host`` names another cloud's login host (or a stand-in).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockgate.stages.ingest.postgres import SourceError

FIELD = "with.source.files.credentials"

PRINCIPAL = ("client_secret", "client_certificate", "federated_token")
AZURE_CREDENTIALS = ("account_key", "sas_token", "connection_string", *PRINCIPAL)


def azure_options(values: Mapping[str, str]) -> dict[str, Any]:
    opts: dict[str, Any] = {k: v for k, v in values.items() if v}
    principal = [k for k in PRINCIPAL if opts.get(k)]
    if len(principal) > 1:
        raise SourceError(
            f"{FIELD}: give one of client_secret, client_certificate or federated_token"
        )
    if principal and not (opts.get("tenant_id") and opts.get("client_id")):
        raise SourceError(f"{FIELD}: {principal[0]} needs tenant_id and client_id")
    if principal:
        other = [k for k in ("account_key", "sas_token", "connection_string") if opts.get(k)]
        if other:
            raise SourceError(
                f"{FIELD}: a service principal ({principal[0]}) goes without {other[0]}"
            )
    if principal and opts.get("authority_host"):
        opts["authority_host"] = authority_url(opts["authority_host"])
    elif opts.get("authority_host"):
        raise SourceError(
            f"{FIELD}: authority_host goes with a service principal: client_secret, "
            "client_certificate or federated_token"
        )
    if opts.get("endpoint_url"):
        opts = _azure_endpoint(opts, bool(principal))
    if not any(values.get(k) for k in AZURE_CREDENTIALS):
        opts["anon"] = True
    # A refused or silent endpoint fails each attempt in seconds.
    return opts | {"connection_timeout": 5}


def _azure_endpoint(opts: dict[str, Any], principal: bool) -> dict[str, Any]:
    """A blob endpoint URL (Azurite's, a private endpoint) as the connection string the SDK
    takes for it, with the account key or SAS token in it; with a service principal, the
    account URL its tokens go to."""
    endpoint = opts.pop("endpoint_url").rstrip("/")
    if not endpoint.startswith(("http://", "https://")):
        raise SourceError(f"{FIELD}.endpoint_url: give a URL such as https://HOST:PORT/ACCOUNT")
    clash = [k for k in ("connection_string", "account_host") if k in opts]
    if clash:
        raise SourceError(
            f"{FIELD}: endpoint_url goes with account_key, sas_token or a service principal, "
            f"not {clash[0]}"
        )
    if principal:
        if not endpoint.startswith("https://"):
            raise SourceError(
                f"{FIELD}.endpoint_url: a service principal's token is sent only over HTTPS: "
                "give an https:// endpoint"
            )
        return opts | {"blob_endpoint": endpoint}
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


def authority_url(value: str) -> str:
    """The login host as the https URL the credential takes (a bare host is accepted)."""
    value = value.strip().rstrip("/")
    if "://" not in value:  # a bare host, as Azure's own tools accept it
        value = f"https://{value}"
    if not value.startswith("https://"):
        raise SourceError(
            f"{FIELD}.authority_host: the login host is reached only over HTTPS: give "
            "https://HOST (e.g. https://login.microsoftonline.us)"
        )
    return value
