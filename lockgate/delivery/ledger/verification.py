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

import binascii
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
    audit record was verified against. ``releases_gil``: whether a check lets other threads run
    meanwhile (libsodium's does; OpenSSL's through ``cryptography`` is not relied on to)."""

    def __init__(self, raw_public_key: bytes, backend: Backend | None = None) -> None:
        self.public_key = raw_public_key
        self.key_id = "ed25519:" + hashlib.sha256(raw_public_key).hexdigest()
        self.backend: Backend = backend or best_backend()
        self.releases_gil = self.backend == "libsodium"
        if self.backend == "libsodium":
            self._verify = _libsodium(raw_public_key)
        else:
            self._verify = _openssl(raw_public_key)

    def __call__(self, payload: bytes, signature: str) -> bool:
        try:  # what base64.b64decode does, without its argument checks
            raw = binascii.a2b_base64(signature)
        except (ValueError, TypeError):
            return False
        return len(raw) == SIGNATURE_BYTES and self._verify(payload, raw)


def _libsodium(key: bytes) -> Callable[[bytes, bytes], bool]:
    """libsodium's ``crypto_sign_open`` called through PyNaCl's compiled binding directly: what
    ``nacl.bindings.crypto_sign_open`` calls, without its argument checks (the key is 32 bytes,
    the signature 64, both checked before) and without copying out the message it returns;
    through the wrapper when a PyNaCl release lays out its binding differently."""
    try:
        from nacl._sodium import ffi, lib

        sign_open, new, null = lib.crypto_sign_open, ffi.new, ffi.NULL
    except (ImportError, AttributeError):
        return _libsodium_wrapped(key)
    if len(key) != lib.crypto_sign_publickeybytes():
        raise ValueError("an Ed25519 public key is 32 bytes")

    def verify(payload: bytes, signature: bytes) -> bool:
        signed = signature + payload
        size = len(signed)
        return sign_open(new("unsigned char[]", size), null, signed, size, key) == 0

    return verify


def _libsodium_wrapped(key: bytes) -> Callable[[bytes, bytes], bool]:
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
