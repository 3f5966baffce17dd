"""Ed25519 signatures on ledger entries and the head anchor, so that a copy of the ledger can be
checked offline with only the public key (``lockgate audit verify --public-key FILE``).

Keys are PEM files (``openssl genpkey -algorithm ed25519``, or :func:`generate_key_pair`). The
``cryptography`` package is imported only when a key is used; signatures are checked by
:class:`~lockgate.delivery.ledger.verification.KeyChecker` (libsodium when installed).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lockgate.delivery.ledger.verification import KeyChecker
from lockgate.errors import LockgateError


class SigningError(LockgateError):
    """A key that cannot be read or is not Ed25519."""


def _serialization() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        raise SigningError(
            "signing needs the `cryptography` package: pip install cryptography"
        ) from None
    return serialization


def load_signer(path: Path) -> Callable[[bytes], str]:
    """A function signing bytes with the Ed25519 private key in ``path`` (base64 signature)."""
    serialization = _serialization()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningError(f"{path}: cannot read the private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: not an Ed25519 private key")

    def sign(payload: bytes) -> str:
        return base64.b64encode(key.sign(payload)).decode()

    return sign


def load_checker(path: Path) -> KeyChecker:
    """The checker for the Ed25519 public key in ``path``."""
    serialization = _serialization()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SigningError(f"{path}: cannot read the public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{path}: not an Ed25519 public key")
    return KeyChecker(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def public_key_id(path: Path) -> str:
    """``ed25519:<sha256 of the raw public key>``: the same key whatever file or PEM layout holds
    it (names what an audit record was verified against)."""
    return load_checker(path).key_id


def checker_of_private(path: Path) -> KeyChecker:
    """The checker for the public half of the private key in ``path``: a writer that signs
    also refuses entries its own key did not sign."""
    serialization = _serialization()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningError(f"{path}: cannot read the private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: not an Ed25519 private key")
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KeyChecker(raw)


def write_private(path: Path, data: bytes) -> None:
    """Write a private key so that no other user can read it at any moment: the file is created
    with mode 0600 (never wider, whatever the umask), filled, synced, then renamed into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def generate_key_pair(private_path: Path, public_path: Path) -> None:
    serialization = _serialization()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    write_private(
        private_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
