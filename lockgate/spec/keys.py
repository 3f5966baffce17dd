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
from collections.abc import Mapping

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
    "gcpkms://": (
        "GOOGLE_SERVICE_ACCOUNT_KEY",
        "GOOGLE_KMS_ENDPOINT",
        "GOOGLE_IAM_CREDENTIALS_ENDPOINT",
    ),
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


def credential_problem(
    ref: str, credentials: Mapping[str, str], *, minted: bool = False
) -> str | None:
    """What is wrong with ``encryption.credentials`` for ``ref`` (names only, not secrets);
    ``minted``: the names a stage given minted credentials is handed (:data:`MINTED`)."""
    if minted and is_envelope(ref):
        expected = minted_files(ref, credentials)
        if dict(credentials) == expected:
            return None
        return f"minted credentials for {scheme_of(ref)} are {', '.join(expected)}"
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
SERVICE_ACCOUNT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.iam\.gserviceaccount\.com")
VAULT_POLICY = re.compile(r"[\w.-]{1,128}")
# the secret files a stage given minted credentials reads them from, per KMS (what its client
# needs -> the file's name in the stage's secrets folder); never the names of declared secrets
# it is not given. The optional ones (VAULT_NAMESPACE, GOOGLE_KMS_ENDPOINT) are given only when
# encryption.credentials names them.
MINTED = {
    "awskms://": {
        "AWS_ACCESS_KEY_ID": "minted-aws-access-key-id",
        "AWS_SECRET_ACCESS_KEY": "minted-aws-secret-access-key",
        "AWS_SESSION_TOKEN": "minted-aws-session-token",
        "AWS_REGION": "minted-aws-region",
    },
    "hashivault://": {
        "VAULT_ADDR": "minted-vault-addr",
        "VAULT_TOKEN": "minted-vault-token",
        "VAULT_NAMESPACE": "minted-vault-namespace",
    },
    "gcpkms://": {
        "GOOGLE_ACCESS_TOKEN": "minted-google-access-token",
        "GOOGLE_ACCESS_TOKEN_EXPIRY": "minted-google-access-token-expiry",
        "GOOGLE_KMS_ENDPOINT": "minted-google-kms-endpoint",
    },
    "azurekms://": {
        "AZURE_ACCESS_TOKEN": "minted-azure-access-token",
        "AZURE_ACCESS_TOKEN_EXPIRY": "minted-azure-access-token-expiry",
    },
}
MINTED_OPTIONAL = ("VAULT_NAMESPACE", "GOOGLE_KMS_ENDPOINT")
# minted values that are not credentials (addresses, an expiry time): not masked in output
MINTED_PUBLIC = (
    "AWS_REGION",
    "VAULT_ADDR",
    "VAULT_NAMESPACE",
    "GOOGLE_KMS_ENDPOINT",
    "GOOGLE_ACCESS_TOKEN_EXPIRY",
    "AZURE_ACCESS_TOKEN_EXPIRY",
)


def minted_files(ref: str, credentials: Mapping[str, str]) -> dict[str, str]:
    """What a stage given minted credentials for ``ref`` reads (need -> file name)."""
    prefix = next(p for p in ENVELOPE_SCHEMES if ref.startswith(p))
    return {
        need: file
        for need, file in MINTED[prefix].items()
        if need not in MINTED_OPTIONAL or need in credentials
    }


def minting_problem(
    ref: str,
    mode: str,
    role_arn: str | None,
    sts_endpoint: str | None,
    vault_policies: tuple[str, ...] | None = None,
    service_account: str | None = None,
) -> tuple[str, str] | None:
    """``(field, what is wrong)`` with ``encryption.stage_credentials`` and the settings that
    go with it, or None."""
    settings = (
        ("role_arn", role_arn, "awskms://"),
        ("sts_endpoint", sts_endpoint, "awskms://"),
        ("vault_policies", vault_policies, "hashivault://"),
        ("service_account", service_account, "gcpkms://"),
    )
    for name, value, kind in settings:
        if value is not None and mode != "minted":
            return name, "only used with stage_credentials: minted; remove it or set that"
        if value is not None and not ref.startswith(kind):
            return name, f"only used with {kind} keys (encryption.key is not one); remove it"
    if mode != "minted":
        return None
    if not is_envelope(ref):
        return "stage_credentials", (
            "minted credentials are for a KMS key (awskms://, gcpkms://, azurekms://, "
            "hashivault://); set stage_credentials: lent"
        )
    if ref.startswith("hashivault://"):
        return _vault_problem(vault_policies)
    if service_account is not None and not SERVICE_ACCOUNT.fullmatch(service_account):
        return "service_account", (
            f"{service_account!r}: expected a service account's email, "
            "NAME@PROJECT.iam.gserviceaccount.com"
        )
    if not ref.startswith("awskms://"):
        return None
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


def _vault_problem(policies: tuple[str, ...] | None) -> tuple[str, str] | None:
    if policies is None:
        return "stage_credentials", (
            "minted Vault tokens need vault_policies: the policies the stage's child token gets "
            "(a subset of VAULT_TOKEN's, unless it is a root token), e.g. vault_policies: "
            "[lockgate-transit]"
        )
    if not policies:
        return "vault_policies", "name at least one policy, e.g. [lockgate-transit]"
    for name in policies:
        if name == "root" or not VAULT_POLICY.fullmatch(name):
            return "vault_policies", (
                f"{name!r}: expected the name of a Vault ACL policy other than root (letters, "
                "digits, '_', '-', '.')"
            )
    return None
