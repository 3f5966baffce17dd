"""How lockgate.yaml names a key for encryption at rest, and why a KMS URI is refused.

KMS URIs take cosign's forms (``awskms://``, ``gcpkms://``, ``azurekms://``, ``hashivault://``,
``k8s://``, ``pkcs11:``). cosign signs through a KMS without ever seeing the key; sealing data
needs a data key lockgate holds, wrapped by the KMS, and no KMS client is wired in for that.
"""

from __future__ import annotations

KMS_SCHEMES = ("awskms://", "gcpkms://", "azurekms://", "hashivault://", "k8s://", "pkcs11:")
SUPPORTED = "a declared secret's name or file:PATH (32 bytes as 64 hex digits or base64)"


def kms_refusal(ref: str) -> str:
    """Why a KMS URI cannot key encryption at rest, and what can."""
    scheme = ref.split("://")[0].split(":")[0]
    return (
        f"{scheme} keys cannot encrypt data at rest: lockgate seals data with a key it holds, "
        f"and wrapping that key through a KMS is not supported; use {SUPPORTED}"
    )
