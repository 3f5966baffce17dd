"""How lockgate.yaml names a key for encryption at rest, and which KMS URIs can wrap it.

KMS URIs take cosign's forms (``awskms://``, ``gcpkms://``, ``azurekms://``, ``hashivault://``,
``k8s://``, ``pkcs11:``). cosign signs through a KMS without ever seeing the key; sealing data
needs a data key lockgate holds. With ``awskms://`` and ``hashivault://`` the KMS wraps a fresh
data key (envelope encryption); the other forms are refused with the supported ones named.
"""

from __future__ import annotations

KMS_SCHEMES = ("awskms://", "gcpkms://", "azurekms://", "hashivault://", "k8s://", "pkcs11:")
ENVELOPE_SCHEMES = ("awskms://", "hashivault://")
SUPPORTED = (
    "awskms://[ENDPOINT]/KEY, hashivault://KEYNAME, a declared secret's name or file:PATH "
    "(32 bytes as 64 hex digits or base64)"
)
# what `encryption.credentials` may name, per KMS: each value is a declared secret
CREDENTIALS = {
    "awskms://": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"),
    "hashivault://": ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_NAMESPACE"),
}
REQUIRED = {
    "awskms://": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "hashivault://": ("VAULT_ADDR", "VAULT_TOKEN"),
}


def scheme_of(ref: str) -> str:
    return ref.split("://")[0].split(":")[0]


def kms_refusal(ref: str) -> str:
    """Why this KMS URI cannot key encryption at rest, and what can."""
    return (
        f"{scheme_of(ref)} keys cannot encrypt data at rest yet: wrapping lockgate's data key "
        f"is built for AWS KMS and Vault's transit engine only; use {SUPPORTED}"
    )


def is_envelope(ref: str) -> bool:
    return ref.startswith(ENVELOPE_SCHEMES)


def credential_problem(ref: str, credentials: dict[str, str]) -> str | None:
    """What is wrong with ``encryption.credentials`` for ``ref`` (names only, not secrets)."""
    if not is_envelope(ref):
        only = "only a KMS key (awskms://, hashivault://) takes credentials"
        return only if credentials else None
    prefix = next(p for p in ENVELOPE_SCHEMES if ref.startswith(p))
    allowed, required = CREDENTIALS[prefix], REQUIRED[prefix]
    for name in credentials:
        if name not in allowed:
            return f"{name} is not a {scheme_of(ref)} credential; use {', '.join(allowed)}"
    missing = [n for n in required if n not in credentials]
    if missing:
        return (
            f"{scheme_of(ref)} needs {' and '.join(missing)}: name the declared secrets that "
            f"hold them, e.g. credentials: {{{missing[0]}: my-secret}}"
        )
    return None
