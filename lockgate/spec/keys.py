"""How lockgate.yaml names a key for encryption at rest, and which KMS URIs can wrap it.

KMS URIs take cosign's forms (``awskms://``, ``gcpkms://``, ``azurekms://``, ``hashivault://``,
``k8s://``, ``pkcs11:``). cosign signs through a KMS without ever seeing the key; sealing data
needs a data key lockgate holds. With ``awskms://``, ``gcpkms://``, ``azurekms://`` and
``hashivault://`` the KMS wraps a data key (envelope encryption); the other forms are refused
with the supported ones named. The URI forms are checked here, without any network, so a
malformed one is reported where lockgate.yaml writes it.
"""

from __future__ import annotations

import re

KMS_SCHEMES = ("awskms://", "gcpkms://", "azurekms://", "hashivault://", "k8s://", "pkcs11:")
ENVELOPE_SCHEMES = ("awskms://", "gcpkms://", "azurekms://", "hashivault://")
SUPPORTED = (
    "awskms://[ENDPOINT]/KEY, gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K, "
    "azurekms://VAULT.vault.azure.net/KEY, hashivault://KEYNAME, a declared secret's name or "
    "file:PATH (32 bytes as 64 hex digits or base64)"
)
# what `encryption.credentials` may name, per KMS: each value is a declared secret
CREDENTIALS = {
    "awskms://": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"),
    "gcpkms://": ("GOOGLE_SERVICE_ACCOUNT_KEY", "GOOGLE_KMS_ENDPOINT"),
    "azurekms://": (
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_AUTHORITY_HOST",
    ),
    "hashivault://": ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_NAMESPACE"),
}
REQUIRED = {
    "awskms://": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "gcpkms://": ("GOOGLE_SERVICE_ACCOUNT_KEY",),
    "azurekms://": ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"),
    "hashivault://": ("VAULT_ADDR", "VAULT_TOKEN"),
}
_SEGMENT = r"[^/\s?#]+"
GCP_KEY = re.compile(
    rf"gcpkms://(?P<key>projects/{_SEGMENT}/locations/{_SEGMENT}/keyRings/{_SEGMENT}"
    rf"/cryptoKeys/{_SEGMENT})(?P<version>/cryptoKeyVersions/{_SEGMENT})?"
)
AZURE_KEY = re.compile(
    r"azurekms://(?P<host>[A-Za-z0-9.\-\[\]:]+)/(?P<name>[A-Za-z0-9-]{1,127})"
    r"(?:/(?P<version>[A-Za-z0-9]+))?"
)
FORMS = {
    "awskms://": "awskms://[ENDPOINT]/KEY (KEY: a key id, key ARN, alias/NAME or alias ARN; "
    "e.g. awskms:///alias/lockgate-data)",
    "gcpkms://": "gcpkms://projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY"
    "[/cryptoKeyVersions/VERSION]",
    "azurekms://": "azurekms://VAULT_NAME.vault.azure.net/KEY[/VERSION]",
    "hashivault://": "hashivault://KEYNAME (a transit key's name)",
}


def scheme_of(ref: str) -> str:
    return ref.split("://")[0].split(":")[0]


def kms_refusal(ref: str) -> str:
    """Why this KMS URI cannot key encryption at rest, and what can."""
    return (
        f"{scheme_of(ref)} keys cannot encrypt data at rest yet: wrapping lockgate's data key "
        f"is built for AWS KMS, Google Cloud KMS, Azure Key Vault and Vault's transit engine "
        f"only; use {SUPPORTED}"
    )


def is_envelope(ref: str) -> bool:
    return ref.startswith(ENVELOPE_SCHEMES)


def uri_problem(ref: str) -> str | None:
    """What is wrong with the form of an envelope KMS URI (None: well formed)."""
    prefix = next((p for p in ENVELOPE_SCHEMES if ref.startswith(p)), None)
    if prefix is None:
        return None
    rest = ref.removeprefix(prefix)
    if prefix == "awskms://":
        ok = "/" in rest and bool(rest.partition("/")[2])
    elif prefix == "gcpkms://":
        ok = GCP_KEY.fullmatch(ref) is not None
    elif prefix == "azurekms://":
        ok = AZURE_KEY.fullmatch(ref) is not None
    else:
        ok = bool(rest) and "/" not in rest
    return None if ok else f"{ref}: expected {FORMS[prefix]}"


def credential_problem(ref: str, credentials: dict[str, str]) -> str | None:
    """What is wrong with ``encryption.credentials`` for ``ref`` (names only, not secrets)."""
    if not is_envelope(ref):
        only = "only a KMS key (awskms://, gcpkms://, azurekms://, hashivault://) takes credentials"
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


ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
# the secret files a stage given minted credentials reads them from (what the KMS needs ->
# the file's name in its secrets folder); never the names of declared secrets it is not given
MINTED = {
    "AWS_ACCESS_KEY_ID": "minted-aws-access-key-id",
    "AWS_SECRET_ACCESS_KEY": "minted-aws-secret-access-key",
    "AWS_SESSION_TOKEN": "minted-aws-session-token",
    "AWS_REGION": "minted-aws-region",
}


def minting_problem(
    ref: str,
    mode: str,
    role_arn: str | None,
    sts_endpoint: str | None,
) -> tuple[str, str] | None:
    """``(field, what is wrong)`` with ``encryption.stage_credentials`` and the settings that
    go with it, or None."""
    if mode != "minted":
        for name, value in (("role_arn", role_arn), ("sts_endpoint", sts_endpoint)):
            if value is not None:
                return name, "only used with stage_credentials: minted; remove it or set that"
        return None
    if not ref.startswith("awskms://"):
        return "stage_credentials", (
            "minted credentials are built for awskms:// keys only (Vault, Cloud KMS and Key "
            "Vault credentials are lent as named); set stage_credentials: lent"
        )
    if role_arn is None:
        return "stage_credentials", (
            "minted credentials need role_arn: the IAM role lockgate assumes with the "
            "credentials in encryption.credentials, e.g. role_arn: "
            "arn:aws:iam::123456789012:role/lockgate-stage"
        )
    if not ROLE_ARN.fullmatch(role_arn):
        return "role_arn", f"{role_arn!r}: expected arn:aws:iam::ACCOUNT:role/NAME"
    if sts_endpoint is not None and ("/" in sts_endpoint or not sts_endpoint.strip()):
        return "sts_endpoint", f"{sts_endpoint!r}: expected host[:port], e.g. sts.amazonaws.com"
    return None
