"""Encryption at rest for the files an ingest stage keeps: AES-256-GCM, a fresh nonce per file.

A sealed file is ``MAGIC | key id (16 bytes) | nonce (12 bytes) | ciphertext+tag``. The header and
the file's own name are authenticated too, so a flipped bit, a file swapped for another, or the
wrong key is an error naming the file, never data silently used. Only the key id (a digest of the
key) is ever recorded, never the key.

Keys: ``encryption.key`` names a declared secret holding 32 bytes as 64 hex digits or base64, or
a key file (``file:PATH``). KMS URIs in cosign's forms (``awskms://`` ...) are recognised and
refused with a clear message: wrapping data keys through a KMS is not built yet.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lockgate.errors import LockgateError

MAGIC = b"LGSEAL1\n"
KMS_SCHEMES = ("awskms://", "gcpkms://", "azurekms://", "hashivault://", "k8s://", "pkcs11:")


class SealError(LockgateError):
    """A key cannot be resolved, or a sealed file fails authentication."""


def _key_bytes(text: str, origin: str) -> bytes:
    text = text.strip()
    try:
        key = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != 32:
        raise SealError(
            f"{origin}: an encryption key must be 32 bytes, as 64 hex digits or base64 "
            "(make one with: python -c 'import os; print(os.urandom(32).hex())')"
        )
    return key


@dataclass(frozen=True)
class Sealer:
    key: bytes
    key_id: str

    @classmethod
    def from_key(cls, key: bytes) -> Sealer:
        return cls(key, hashlib.sha256(b"lockgate-key-id\0" + key).hexdigest()[:32])

    @classmethod
    def resolve(
        cls, ref: str, secret: Callable[[str], str], resolve: Callable[[str], Path]
    ) -> Sealer:
        """``encryption.key``: a secret's name, ``file:PATH``, or a KMS URI."""
        if ref.startswith(KMS_SCHEMES):
            raise SealError(
                f"with.encryption.key: {ref.split('://')[0]} keys cannot encrypt data here yet; "
                "use a secret or a key file (file:PATH)"
            )
        if ref.startswith("file:"):
            path = resolve(ref[5:])
            try:
                return cls.from_key(_key_bytes(path.read_text(), f"with.encryption.key ({path})"))
            except OSError as exc:
                raise SealError(
                    f"with.encryption.key: cannot read key file {path}: {exc}"
                ) from None
        try:
            text = secret(ref)
        except OSError:
            raise SealError(
                f"with.encryption.key: secret {ref!r} is not available to this stage: declare it "
                "under `secrets:` and list it in the stage's `secrets:`"
            ) from None
        return cls.from_key(_key_bytes(text, f"with.encryption.key (secret {ref!r})"))

    def _aad(self, name: str) -> bytes:
        return MAGIC + bytes.fromhex(self.key_id) + name.encode()

    def seal(self, plain: bytes, name: str) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(12)
        body = AESGCM(self.key).encrypt(nonce, plain, self._aad(name))
        return MAGIC + bytes.fromhex(self.key_id) + nonce + body

    def open(self, sealed: bytes, name: str, where: str) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not sealed.startswith(MAGIC) or len(sealed) < len(MAGIC) + 16 + 12 + 16:
            raise SealError(f"{where}: not a lockgate-sealed file")
        key_id = sealed[len(MAGIC) : len(MAGIC) + 16].hex()
        if key_id != self.key_id:
            raise SealError(
                f"{where}: sealed with key {key_id}, but the configured key is {self.key_id}"
            )
        nonce = sealed[len(MAGIC) + 16 : len(MAGIC) + 28]
        try:
            return AESGCM(self.key).decrypt(nonce, sealed[len(MAGIC) + 28 :], self._aad(name))
        except InvalidTag:
            raise SealError(
                f"{where}: authentication failed: the file was altered or renamed; "
                "re-run the stage that wrote it"
            ) from None
