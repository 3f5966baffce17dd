"""Checking Ed25519 signatures with one public key, through libsodium when it is installed.

A signed audit spends nearly all its time in Ed25519 verification. With libsodium (the
``PyNaCl`` package) a whole audit took 0.62 of its time with OpenSSL through ``cryptography``
where the ledger benchmark ran, so libsodium is used when installed; ``cryptography`` stays the
fallback (it is needed anyway to read PEM keys). Both give the same verdict on every signature
lockgate writes and on every forgery in the tests: both check the same equation and compare
encodings byte for byte, and libsodium also refuses small-order keys and points, which no honest
signer makes.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any, Literal

Backend = Literal["libsodium", "openssl"]
SIGNATURE_BYTES = 64


def best_backend() -> Backend:
    """libsodium when PyNaCl is installed, else OpenSSL."""
    try:
        import nacl.bindings  # noqa: F401  (only whether it imports)
    except ImportError:
        return "openssl"
    return "libsodium"


class KeyChecker:
    """Tells whether a base64 signature over some bytes verifies with one Ed25519 public key.

    ``key_id`` (``ed25519:<sha256 of the raw key>``) names the key whatever file held it: what an
    audit record was verified against."""

    def __init__(self, raw_public_key: bytes, backend: Backend | None = None) -> None:
        self.key_id = "ed25519:" + hashlib.sha256(raw_public_key).hexdigest()
        self.backend: Backend = backend or best_backend()
        if self.backend == "libsodium":
            self._verify = _libsodium(raw_public_key)
        else:
            self._verify = _openssl(raw_public_key)

    def __call__(self, payload: bytes, signature: str) -> bool:
        try:
            raw = base64.b64decode(signature)
        except ValueError:
            return False
        return len(raw) == SIGNATURE_BYTES and self._verify(payload, raw)


def _libsodium(key: bytes) -> Callable[[bytes, bytes], bool]:
    from nacl.bindings import crypto_sign_open
    from nacl.exceptions import CryptoError

    def verify(payload: bytes, signature: bytes) -> bool:
        try:
            crypto_sign_open(signature + payload, key)
        except (CryptoError, ValueError):
            return False
        return True

    return verify


def _openssl(key: bytes) -> Callable[[bytes, bytes], bool]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    public: Any = Ed25519PublicKey.from_public_bytes(key)

    def verify(payload: bytes, signature: bytes) -> bool:
        try:
            public.verify(signature, payload)
        except (InvalidSignature, ValueError):
            return False
        return True

    return verify
