"""Envelope encryption: a KMS wraps the data key that seals what lockgate keeps.

:mod:`.envelope` keeps wrapped data keys beside the sealed data and unwraps each once per
process; :mod:`.aws` and :mod:`.vault` talk to AWS KMS and Vault's transit engine. The KMS key
never leaves the KMS; the plaintext data key lives only in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class DataKey:
    plaintext: bytes
    wrapped: str  # as the KMS returned it, text (base64 for AWS, ``vault:v1:...`` for Vault)
    kms_key: str  # the KMS key that wrapped it, as the KMS names it (a key ARN, a Vault key)

    def __repr__(self) -> str:
        return f"DataKey(kms_key={self.kms_key!r})"


class KmsClient(Protocol):
    """One configured KMS key: make a fresh wrapped data key, unwrap one."""

    uri: str

    def generate(self) -> DataKey: ...

    def unwrap(self, wrapped: str, kms_key: str) -> bytes: ...
