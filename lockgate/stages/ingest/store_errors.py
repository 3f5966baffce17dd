"""One line for a failure of an object store or its login: what went wrong, what to do, and
no declared credential in it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lockgate.stages.ingest import object_stores
from lockgate.stages.ingest.object_stores import FIELD

# with.source.files.credentials: one secret holding them all, or a secret per field
Secrets = str | Mapping[str, str] | None
# the fields that prove who the reader is (an endpoint, a region or an account name does not)
PROOF = (
    "access_key_id",
    "secret_access_key",
    "session_token",
    "service_account_json",
    "access_token",
    "account_key",
    "sas_token",
    "connection_string",
    "client_secret",
    "client_certificate",
    "federated_token",
)
REFUSED = ("AccessDenied", "Forbidden", "failed to authenticate", "Unauthorized", "invalid_grant")
# a body that stopped partway, as aiohttp and urllib3 say it (a connection reset or closed)
CUT_PARTWAY = ("payload is not completed", "IncompleteRead", "Connection broken")
# Azure's answer to a SAS or role that authenticates but may not list or read
LACKS_PERMISSION = ("AuthorizationPermissionMismatch", "using this permission")


def store_problem(
    exc: BaseException,
    values: Mapping[str, Any],
    anonymous: bool,
    secrets: Secrets = None,
) -> str:
    """One line saying what went wrong with the store and what to do, without a credential.
    ``secrets`` (``with.source.files.credentials``) names the secrets a refusal asks to renew."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, TimeoutError) and not str(exc).strip():
        text = f"no answer within {object_stores.LIST_TIMEOUT_S:g} s"
    names = " ".join(type(c).__name__ for c in type(exc).__mro__) + " " + text.lower()
    if any(w in text for w in CUT_PARTWAY):
        got = re.search(r"received (\d+) of (\d+) bytes", text)
        arrived = f" ({int(got[1]):,} of {int(got[2]):,} bytes arrived)" if got else ""
        return (
            f"the connection was lost partway through the object{arrived}, and again when it "
            "was asked again; the store answers but the transfer breaks: check the network "
            "path to it (a proxy or load balancer that cuts connections) and run the stage again"
        )
    if "certificate verify failed" in names or "CERTIFICATE_VERIFY_FAILED" in text:
        hint = (
            "the server's TLS certificate is not trusted or names another host: name the CA "
            "that signed it in with.source.files.ca_file and check the host in the URL"
        )
    elif anonymous and not isinstance(exc, FileNotFoundError) and "onnect" not in names:
        hint = (
            f"no credentials were declared, so the store was read anonymously: name the "
            f"secrets that hold them in {FIELD}"
        )
    elif any(w in text for w in LACKS_PERMISSION):
        hint = (
            "the credentials are valid but may not do this: a SAS or role must allow both list "
            f"and read on the container; check the secrets named in {FIELD}"
        )
    elif "AADSTS" in text:
        hint = (
            "the identity platform refused the service principal: check tenant_id, client_id "
            f"and client_secret, client_certificate or federated_token in {FIELD}"
        )
    elif isinstance(exc, PermissionError) or any(w in text for w in REFUSED):
        hint = expired_sas(values, secrets) or (
            f"the store refused the credentials: check the secrets named in {FIELD}"
            + renew(secrets)
        )
    elif isinstance(exc, FileNotFoundError):
        hint = "no such bucket or object: check the bucket's name and the path"
    elif isinstance(exc, object_stores.NoAnswer) or any(
        w in names for w in ("onnect", "Timeout", "timed out")
    ):
        hint = "cannot reach the store: check endpoint_url and that it accepts connections"
    else:
        hint = "see the store's message"
    return f"{masked(text, values)}; {hint}"


def read_problem(
    exc: BaseException, values: Mapping[str, Any], anonymous: bool, secrets: Secrets = None
) -> str:
    """One line for a failure while an object that was listed is read: the store's SDK raises
    its own types (a lost connection, a refusal), never the file errors a parser would."""
    if isinstance(exc, FileNotFoundError):
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return (
            f"{masked(text, values)}: the object was listed, then deleted or renamed before it "
            "was read; run the stage again"
        )
    return store_problem(exc, values, anonymous, secrets)


def masked(text: str, values: Mapping[str, Any]) -> str:
    """``text`` with every declared credential value in it replaced by ``***``, then, of a URL
    (an endpoint kept in a secret), its address as a client's connection error names it on its
    own: ``HOST:PORT``, or ``('HOST', PORT)``."""
    declared = [v for v in values.values() if isinstance(v, str)]
    addresses = [a for v in declared for a in _addresses(v)]
    for part in sorted(declared, key=len, reverse=True) + addresses:
        if len(part) >= 4:
            text = text.replace(part, "***")
    return text


def _addresses(value: str) -> tuple[str, ...]:
    """The forms a connection error names a URL's host and port in (none for a value that is
    not a URL, or one without a port)."""
    if "://" not in value:
        return ()
    try:
        url = urlsplit(value.strip())
        host, port = url.hostname, url.port
    except ValueError:
        return ()
    if not host or port is None:
        return ()
    return (f"{host}:{port}", f"('{host}', {port})")


def renew(secrets: Secrets) -> str:
    """`` (...)`` naming the secrets that hold the refused credentials, to renew when they
    expired or were revoked (empty when none were declared)."""
    if isinstance(secrets, str):
        names = [secrets]
    elif secrets:
        names = list(dict.fromkeys(n for f, n in secrets.items() if f in PROOF))
    else:
        names = []
    if not names:
        return ""
    listed = ", ".join(repr(n) for n in names)
    which = "it" if len(names) == 1 else "them"
    return f" (secret{'s' if len(names) > 1 else ''} {listed}: renew {which} if expired or revoked)"


def expired_sas(values: Mapping[str, Any], secrets: Secrets) -> str | None:
    """What to do when the declared Azure SAS (alone or in a connection string) is past its
    expiry: the store only says it could not authenticate the request."""
    sas = str(values.get("sas_token") or "")
    field = "sas_token"
    if not sas and "SharedAccessSignature=" in str(values.get("connection_string") or ""):
        field = "connection_string"
        sas = str(values["connection_string"]).split("SharedAccessSignature=", 1)[1]
        sas = sas.split(";", 1)[0]
    expiry = parse_qs(sas.lstrip("?")).get("se", [""])[0]
    try:
        ends = datetime.fromisoformat(expiry)
    except ValueError:
        return None
    if ends.tzinfo is None:
        ends = ends.replace(tzinfo=UTC)
    if ends > datetime.now(UTC):
        return None
    name = secrets if isinstance(secrets, str) else (secrets or {}).get(field, field)
    return (
        f"the SAS in secret {name!r} expired at {ends:%Y-%m-%dT%H:%M:%SZ}: put a new one in "
        "that secret and run the stage again"
    )
