"""OpenSSH signatures (the ``ssh-keygen -Y sign`` format) with Ed25519 keys, so that a person can
sign a release statement with the key they already use for git, and lockgate can check it.

A signature covers ``SSHSIG``, a namespace (lockgate uses ``lockgate``), and the SHA-512 of the
message. Signing and checking here produce and accept exactly what ``ssh-keygen -Y sign`` and
``ssh-keygen -Y verify`` do; the tests hold the two against each other.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.errors import LockgateError

NAMESPACE = "lockgate"
_MAGIC = b"SSHSIG"
_ARMOR = ("-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----")
KEY_TYPE = "ssh-ed25519"


class SignatureError(LockgateError):
    """A signature or key that cannot be read, or that does not verify."""

    exit_code = 1


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _read_string(blob: bytes, at: int) -> tuple[bytes, int]:
    if at + 4 > len(blob):
        raise SignatureError("truncated SSH signature")
    (size,) = struct.unpack(">I", blob[at : at + 4])
    end = at + 4 + size
    if end > len(blob):
        raise SignatureError("truncated SSH signature")
    return blob[at + 4 : end], end


def _signed_data(message: bytes, namespace: str) -> bytes:
    digest = hashlib.sha512(message).digest()
    return (
        _MAGIC + _string(namespace.encode()) + _string(b"") + _string(b"sha512") + _string(digest)
    )


def public_blob(key: Any) -> bytes:
    """The SSH wire form of an Ed25519 public key (what an ``ssh-ed25519 AAAA...`` line holds)."""
    from cryptography.hazmat.primitives import serialization

    text = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return base64.b64decode(text.split()[1])


def fingerprint(blob: bytes) -> str:
    """``SHA256:...`` as ``ssh-keygen -l`` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def load_private_key(path: Path) -> Any:
    """An Ed25519 private key from an OpenSSH (``ssh-keygen -t ed25519``) or PEM file, unencrypted
    (use ``ssh-agent``-free keys for lockgate, or sign with ``ssh-keygen -Y sign`` yourself)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key: Any
    try:
        data = path.read_bytes()
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SignatureError(f"{path}: cannot read the private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path}: not an Ed25519 private key (ssh-keygen -t ed25519)")
    return key


def sign(key: Any, message: bytes, namespace: str = NAMESPACE) -> str:
    """An armored SSH signature of ``message`` (what ``ssh-keygen -Y sign -n NAMESPACE`` writes)."""
    raw = key.sign(_signed_data(message, namespace))
    blob = (
        _MAGIC
        + struct.pack(">I", 1)
        + _string(public_blob(key.public_key()))
        + _string(namespace.encode())
        + _string(b"")
        + _string(b"sha512")
        + _string(_string(KEY_TYPE.encode()) + _string(raw))
    )
    body = base64.b64encode(blob).decode()
    lines = [body[i : i + 70] for i in range(0, len(body), 70)]
    return "\n".join([_ARMOR[0], *lines, _ARMOR[1]]) + "\n"


@dataclass(frozen=True)
class Signature:
    public_key: bytes  # SSH wire form
    namespace: str
    signature: bytes  # the raw Ed25519 signature

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)


def parse(armored: str) -> Signature:
    text = armored.strip()
    if not (text.startswith(_ARMOR[0]) and text.endswith(_ARMOR[1])):
        raise SignatureError("not an SSH signature (expected -----BEGIN SSH SIGNATURE-----)")
    try:
        blob = base64.b64decode("".join(text[len(_ARMOR[0]) : -len(_ARMOR[1])].split()))
    except ValueError:
        raise SignatureError("SSH signature: bad base64") from None
    if blob[:6] != _MAGIC or blob[6:10] != struct.pack(">I", 1):
        raise SignatureError("SSH signature: unknown format or version")
    pub, at = _read_string(blob, 10)
    namespace, at = _read_string(blob, at)
    _, at = _read_string(blob, at)  # reserved
    hash_alg, at = _read_string(blob, at)
    sig, _ = _read_string(blob, at)
    if hash_alg != b"sha512":
        raise SignatureError(f"SSH signature: hash {hash_alg.decode(errors='replace')} unsupported")
    kind, rest = _read_string(sig, 0)
    raw, _ = _read_string(sig, rest)
    if kind != KEY_TYPE.encode() or _read_string(pub, 0)[0] != KEY_TYPE.encode():
        raise SignatureError(f"SSH signature: only {KEY_TYPE} keys are supported")
    return Signature(pub, namespace.decode(errors="replace"), raw)


def verify(sig: Signature, message: bytes, namespace: str = NAMESPACE) -> None:
    """Raise :class:`SignatureError` unless ``sig`` is a valid signature of ``message``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if sig.namespace != namespace:
        raise SignatureError(f"signed for namespace {sig.namespace!r}, not {namespace!r}")
    _, at = _read_string(sig.public_key, 0)
    raw_key, _ = _read_string(sig.public_key, at)
    try:
        Ed25519PublicKey.from_public_bytes(raw_key).verify(
            sig.signature, _signed_data(message, namespace)
        )
    except (InvalidSignature, ValueError):
        raise SignatureError(
            f"the signature by {sig.fingerprint} does not match the statement"
        ) from None
