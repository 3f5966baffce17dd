"""One line for a failure of an object store or its login: what went wrong, what to do, and
no declared credential in it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockgate.stages.ingest import object_stores
from lockgate.stages.ingest.object_stores import FIELD

REFUSED = ("AccessDenied", "Forbidden", "failed to authenticate", "Unauthorized", "invalid_grant")
# Azure's answer to a SAS or role that authenticates but may not list or read
LACKS_PERMISSION = ("AuthorizationPermissionMismatch", "using this permission")


def store_problem(exc: BaseException, values: Mapping[str, Any], anonymous: bool) -> str:
    """One line saying what went wrong with the store and what to do, without a credential."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, TimeoutError) and not str(exc).strip():
        text = f"no answer within {object_stores.LIST_TIMEOUT_S:g} s"
    names = " ".join(type(c).__name__ for c in type(exc).__mro__) + " " + text.lower()
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
        hint = f"the store refused the credentials: check the secrets named in {FIELD}"
    elif isinstance(exc, FileNotFoundError):
        hint = "no such bucket or object: check the bucket's name and the path"
    elif "onnect" in names or "Timeout" in names or "timed out" in names or "no answer" in text:
        hint = "cannot reach the store: check endpoint_url and that it accepts connections"
    else:
        hint = "see the store's message"
    return f"{masked(text, values)}; {hint}"


def read_problem(exc: BaseException, values: Mapping[str, Any], anonymous: bool) -> str:
    """One line for a failure while an object that was listed is read: the store's SDK raises
    its own types (a lost connection, a refusal), never the file errors a parser would."""
    if isinstance(exc, FileNotFoundError):
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return (
            f"{masked(text, values)}: the object was listed, then deleted or renamed before it "
            "was read; run the stage again"
        )
    return store_problem(exc, values, anonymous)


def masked(text: str, values: Mapping[str, Any]) -> str:
    """``text`` with every declared credential value in it replaced by ``***``."""
    for value in values.values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "***")
    return text
