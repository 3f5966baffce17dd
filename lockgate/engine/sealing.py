"""Encryption at rest: AES-256-GCM from ``cryptography``, a fresh random nonce per file.

Two layouts, both binding the header and the name a file is sealed under, so a flipped bit, a
file swapped for another, or the wrong key is an error naming the file, never data silently used:

- sealed whole, in memory (:meth:`Sealer.seal`: indexes, checkpoints, ingest state and parts):
  ``MAGIC | key id (16 bytes) | nonce (12 bytes) | ciphertext | tag (16 bytes)``;
- sealed in segments, file to file (:meth:`Sealer.seal_file`: cache entries and exports), each
  segment its own message: :mod:`lockgate.engine.sealed_file`. :meth:`Sealer.open_file` opens
  both, and a file appears only once it all authenticated: a reader never sees plaintext that
  failed authentication.

Only the key id (a digest of the key) is ever recorded; the key is kept out of ``repr`` too.

Keys (``encryption.key`` in lockgate.yaml): a declared secret's name or ``file:PATH``, holding 32
bytes as 64 hex digits or base64, or a KMS key (``awskms://``, ``gcpkms://``, ``azurekms://``,
``hashivault://``) that wraps a data key per store (:mod:`lockgate.engine.kms.envelope`). A
sealer with a key ring opens files sealed under another of the ring's data keys too; other KMS
URIs are refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lockgate.errors import LockgateError
from lockgate.spec.keys import (
    KMS_SCHEMES,
    credential_problem,
    is_envelope,
    kms_refusal,
    uri_problem,
)

if TYPE_CHECKING:
    from lockgate.engine.kms.envelope import KeyRing

MAGIC = b"LGSEAL1\n"
CIPHER = "AES-256-GCM"
_ID, _NONCE, _TAG = 16, 12, 16
HEADER = len(MAGIC) + _ID + _NONCE
_BLOCK = 4 << 20


ONE_MESSAGE_MAX = 2**31 - 1  # what AES-GCM in one call takes (the cryptography package's bound)


SealFault = Literal["tampered", "other-key", "other"]


class SealError(LockgateError):
    """A key cannot be resolved, or a sealed file fails authentication.

    ``what`` is the fault alone, ``advice`` what to do about it, and ``kind`` which fault it is,
    so a caller whose remedy differs (a dataset that must start over, a checkpoint to delete)
    can keep the fault and give its own advice: ``"tampered"`` (altered, truncated, moved, or
    bound to another name), ``"other-key"`` (sealed under a key that is not configured), or
    ``"other"``."""

    def __init__(self, what: str, advice: str = "", *, kind: SealFault = "other") -> None:
        super().__init__(f"{what}; {advice}" if advice else what)
        self.what, self.advice, self.kind = what, advice, kind

    def __reduce__(self) -> tuple[Any, ...]:  # keeps the parts across a process boundary
        return (_seal_error, (self.what, self.advice, self.kind))


def _seal_error(what: str, advice: str, kind: SealFault) -> SealError:
    return SealError(what, advice, kind=kind)


def key_bytes(text: str, origin: str) -> bytes:
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
    key: bytes = field(repr=False)
    key_id: str
    ring: KeyRing | None = field(default=None, repr=False, compare=False)  # KMS-wrapped keys

    @classmethod
    def from_key(cls, key: bytes) -> Sealer:
        return cls(key, hashlib.sha256(b"lockgate-key-id\0" + key).hexdigest()[:32])

    @classmethod
    def resolve(
        cls,
        ref: str,
        secret: Callable[[str], str],
        resolve: Callable[[str], Path],
        field_name: str = "encryption.key",
        *,
        store: Path | None = None,
        credentials: Mapping[str, str] | None = None,
        ca_file: str | None = None,
        minted: bool = False,
    ) -> Sealer:
        """``ref``: a secret's name, ``file:PATH``, or a KMS key wrapping the data key of
        ``store`` (``credentials``: what the KMS needs -> the declared secret holding it, or
        with ``minted`` the file the engine wrote a short-lived credential to; ``ca_file``:
        ``encryption.ca_file``, the CA bundle the KMS's TLS is checked against, resolved like
        a path of the spec)."""
        if is_envelope(ref):
            if store is None:
                raise SealError(f"{field_name}: a KMS key needs a store for its wrapped data key")
            from lockgate.engine.kms.envelope import kms_sealer

            given = dict(credentials or {})
            problem = uri_problem(ref) or credential_problem(ref, given, minted=minted)
            if problem:
                raise SealError(f"{field_name}: {problem}")
            creds = {}
            for name, secret_name in (credentials or {}).items():
                try:
                    creds[name] = secret(secret_name)
                except (OSError, KeyError):
                    raise SealError(
                        f"{field_name}: credential {name}: secret {secret_name!r} is not "
                        "available: declare it under top-level `secrets:`"
                    ) from None
            ca = resolve(ca_file) if ca_file else None
            return kms_sealer(ref, creds, store, field_name, ca)
        if ref.startswith(KMS_SCHEMES):
            raise SealError(f"{field_name}: {kms_refusal(ref)}")
        if ref.startswith("file:"):
            path = resolve(ref[5:])
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise SealError(f"{field_name}: cannot read key file {path}: {exc}") from None
            return cls.from_key(key_bytes(text, f"{field_name} ({path})"))
        try:
            text = secret(ref)
        except (OSError, KeyError):
            raise SealError(
                f"{field_name}: secret {ref!r} is not available: declare it under top-level "
                "`secrets:` and make its value readable"
            ) from None
        return cls.from_key(key_bytes(text, f"{field_name} (secret {ref!r})"))

    def keep_beside(self, store: Path, key_id: str | None = None) -> None:
        """Write the wrapped data key (``key_id``, else the current one) into ``store`` (KMS
        keys only), so what is sealed there opens where ``store`` travels (another machine)."""
        if self.ring is not None:
            self.ring.keep(key_id or self.key_id, store)

    def knows(self, key_id: str, near: Path) -> bool:
        """Whether a file sealed under ``key_id`` near ``near`` opens with this sealer; a KMS
        that refuses to unwrap its data key raises :class:`SealError`."""
        return key_id == self.key_id or (
            self.ring is not None and self.ring.find(key_id, near) is not None
        )

    def _aad(self, name: str, key_id: str | None = None) -> bytes:
        return MAGIC + bytes.fromhex(key_id or self.key_id) + name.encode()

    def seal(self, plain: bytes | memoryview, name: str) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(plain) > ONE_MESSAGE_MAX:
            raise SealError(
                f"{name}: {len(plain):,} bytes is more than one sealed message holds "
                f"({ONE_MESSAGE_MAX:,}); seal it in segments (seal_file)"
            )
        nonce = os.urandom(_NONCE)
        body = AESGCM(self.key).encrypt(nonce, plain, self._aad(name))
        return MAGIC + bytes.fromhex(self.key_id) + nonce + body

    def open(self, sealed: bytes, name: str, where: str) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key, key_id, nonce = self._check_header(sealed[:HEADER], len(sealed), where)
        try:
            return AESGCM(key).decrypt(nonce, sealed[HEADER:], self._aad(name, key_id))
        except InvalidTag:
            raise tampered(where) from None

    def _check_header(self, header: bytes, size: int, where: str) -> tuple[bytes, str, bytes]:
        """``(key, key id, nonce)`` for a sealed file's header."""
        if not header.startswith(MAGIC) or size < HEADER + _TAG:
            raise SealError(
                f"{where}: not a lockgate-sealed file (its header is missing or cut short: it "
                "was altered or truncated)",
                "re-run the stage that wrote it",
                kind="tampered",
            )
        key_id = header[len(MAGIC) : len(MAGIC) + _ID].hex()
        return self.key_for(key_id, where), key_id, header[len(MAGIC) + _ID : HEADER]

    def key_for(self, key_id: str, where: str) -> bytes:
        """The key a file sealed under ``key_id`` opens with: this one, or another data key of
        the ring; else the error naming ``where`` and both keys."""
        if key_id == self.key_id:
            return self.key
        other = self.ring.find(key_id, Path(where).parent) if self.ring is not None else None
        if other is not None:
            return other
        raise SealError(
            f"{where}: sealed with key {key_id}, but the configured key is {self.key_id}",
            "restore that key, or re-run with --no-cache to replace what was sealed",
            kind="other-key",
        )

    def seal_file(self, src: Path, dst: Path, name: str) -> None:
        """Seal ``src`` into the new file ``dst`` in segments (:mod:`.sealed_file`)."""
        from lockgate.engine import sealed_file

        sealed_file.seal_file(self, src, dst, name)

    def open_file(self, src: Path, dst: Path, name: str, where: str) -> None:
        """Open ``src`` into ``dst``; ``dst`` appears only once the whole file authenticated.
        Reads both a segmented file and one in the single-message layout above."""
        from lockgate.engine import sealed_file

        with open(src, "rb") as fin:
            segmented = fin.read(len(sealed_file.MAGIC)) == sealed_file.MAGIC
        if segmented:
            sealed_file.open_file(self, src, dst, name, where)
        else:
            self._open_single(src, dst, name, where)

    def _open_single(self, src: Path, dst: Path, name: str, where: str) -> None:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        tmp = dst.with_name(f".{dst.name}.opening")
        try:
            with open(src, "rb", buffering=0) as fin, open(tmp, "wb") as fout:
                size = os.fstat(fin.fileno()).st_size
                key, key_id, nonce = self._check_header(fin.read(HEADER), size, where)
                fin.seek(size - _TAG)
                tag = fin.read(_TAG)
                fin.seek(HEADER)
                dec = Cipher(algorithms.AES(key), modes.GCM(nonce, tag)).decryptor()
                dec.authenticate_additional_data(self._aad(name, key_id))
                block, plain = bytearray(_BLOCK), bytearray(_BLOCK + 15)
                view, plain_view = memoryview(block), memoryview(plain)
                left = size - HEADER - _TAG
                while left > 0:
                    n = fin.readinto(view[: min(_BLOCK, left)])
                    if not n:
                        raise tampered(where)
                    left -= n
                    fout.write(plain_view[: dec.update_into(view[:n], plain)])
                try:
                    fout.write(dec.finalize())
                except InvalidTag:
                    raise tampered(where) from None
            os.replace(tmp, dst)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def not_sealed(where: str, what: str = "file") -> SealError:
    return SealError(
        f"{where}: not a lockgate-sealed {what}", "re-run the stage that wrote it", kind="tampered"
    )


def tampered(where: str) -> SealError:
    return SealError(
        f"{where}: authentication failed: the file was altered, truncated or moved",
        "re-run the stage that wrote it",
        kind="tampered",
    )
