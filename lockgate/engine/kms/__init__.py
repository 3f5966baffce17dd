"""Envelope encryption: a KMS wraps the data key that seals what lockgate keeps.

:mod:`.envelope` keeps wrapped data keys beside the sealed data and unwraps each once per
process; :mod:`.aws`, :mod:`.gcp`, :mod:`.azure` and :mod:`.vault` talk to AWS KMS, Google
Cloud KMS, Azure Key Vault (both over :mod:`.http`) and Vault's transit engine. The KMS key
never leaves the KMS; the plaintext data key lives only in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class DataKey:
    plaintext: bytes
    wrapped: str  # as the KMS returned it, text (base64 for AWS, ``vault:v1:...`` for Vault)
    # the KMS key that wrapped it, as the KMS names it (a key ARN, a Vault key, a Cloud KMS key
    # version's resource name, a Key Vault key version's kid)
    kms_key: str

    def __repr__(self) -> str:
        return f"DataKey(kms_key={self.kms_key!r})"


class KmsClient(Protocol):
    """One configured KMS key: make a fresh wrapped data key, unwrap one."""

    uri: str

    def generate(self) -> DataKey: ...

    def unwrap(self, wrapped: str, kms_key: str) -> bytes: ...
