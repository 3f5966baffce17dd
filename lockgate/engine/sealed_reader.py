"""Reading a sealed file in place: a seekable file object that decrypts only what is read.

:func:`open_sealed` gives a read-only binary file over a sealed file's plaintext. In the
segmented layout (:mod:`lockgate.engine.sealed_file`) a read decrypts and authenticates just the
segments it touches, so a Parquet reader that reads a footer and two column chunks of a 1 GiB
file decrypts a few segments and writes nothing to disk. Before the first byte is given out the
file's length must be the one its header declares and its last segment must authenticate as the
last: a file cut short, even by whole segments, fails when it is opened, not when a reader gets
near its end. Every other segment is checked when it is first read; a segment that fails raises
:class:`~lockgate.engine.sealing.SealError` naming the file, and nothing of it is returned. A
segment never read is never checked: a tampered byte there goes unnoticed by this reader, as it
harms nothing that was read (the whole-file :func:`~lockgate.engine.sealed_file.open_file` checks
every segment).

A file in the single-message layout (small files: indexes, checkpoints) has one tag over all of
it, so it is authenticated whole in memory when opened and read from there.

:func:`read_sealed` is for a reader that wants every byte (a whole Parquet table): the whole
plaintext in one buffer, every segment authenticated, decrypted once on several threads. A
Parquet reader given that buffer reads it natively, in parallel and without copies, where through
a file object it reads one call at a time under the interpreter lock.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

from lockgate.engine import sealed_file
from lockgate.engine.sealed_file import HEADER, MAGIC, sealed_size
from lockgate.engine.sealing import not_sealed, tampered

if TYPE_CHECKING:
    from pathlib import Path

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from lockgate.engine.sealing import Sealer

_TAG = 16
_SIZES = struct.Struct(">IQ")


def open_sealed(sealer: Sealer, path: Path, name: str, where: str) -> BinaryIO:
    """A read-only, seekable file over the plaintext of the sealed file ``path`` (sealed under
    ``name``); ``where`` names it in errors."""
    with open(path, "rb") as f:
        head = f.read(len(MAGIC))
    if head != MAGIC:
        with open(path, "rb") as f:
            whole = f.read()
        return io.BytesIO(sealer.open(whole, name, where))
    return io.BufferedReader(SealedReader(sealer, path, name, where), buffer_size=1 << 16)


def read_sealed(
    sealer: Sealer, path: Path, name: str, where: str, allocate: Callable[[int], Any] = bytearray
) -> Any:
    """The whole plaintext of the sealed file ``path``, authenticated: in a buffer from
    ``allocate(size)`` (segmented layout), or as bytes (single-message layout)."""
    with open(path, "rb") as f:
        head = f.read(len(MAGIC))
    if head != MAGIC:
        with open(path, "rb") as f:
            whole = f.read()
        return sealer.open(whole, name, where)
    return sealed_file.read_file(sealer, path, name, where, allocate)


class SealedReader(io.RawIOBase):
    """The raw reader under :func:`open_sealed` (segmented layout only): keeps the one segment
    it decrypted last, and decrypts a whole segment straight into the caller's buffer."""

    def __init__(self, sealer: Sealer, path: Path, name: str, where: str) -> None:
        super().__init__()
        self.where = where
        self._fd = os.open(path, os.O_RDONLY)
        try:
            self._begin(sealer, name)
        except BaseException:
            self.close()  # closes the descriptor once (a later close() sees it closed)
            raise
        self._pos = 0

    def _begin(self, sealer: Sealer, name: str) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        size = os.fstat(self._fd).st_size
        header = os.pread(self._fd, HEADER, 0)
        if not header.startswith(MAGIC) or len(header) < HEADER or size < HEADER + _TAG:
            raise not_sealed(self.where)
        key = sealer.key_for(header[len(MAGIC) : len(MAGIC) + 16].hex(), self.where)
        segment, plain = _SIZES.unpack(header[HEADER - _SIZES.size :])
        if not 0 < segment <= sealed_file._LARGEST or size != sealed_size(plain, segment):
            raise tampered(self.where)  # cut short or grown: refused before any read
        self.size = plain
        self._aead: AESGCM = AESGCM(key)
        self._frame = sealed_file._Frame(header, name, plain, segment)
        self._sealed = bytearray(min(segment, plain) + _TAG)
        self._plain = bytearray(min(segment, plain))
        self._held = -1  # the segment whose plaintext ``_plain`` holds
        self._load(self._frame.count - 1)  # the last segment says it is last, or this fails

    def _load(self, i: int) -> memoryview:
        """Segment ``i``'s plaintext, authenticated, in the held buffer."""
        n = self._frame.spans(i)[1]
        if i != self._held:
            self._held = -1  # a failed decryption leaves no segment held
            self._decrypt(i, memoryview(self._plain)[:n], memoryview(self._sealed))
            self._held = i
        return memoryview(self._plain)[:n]

    def _decrypt(self, i: int, target: memoryview, sealed: memoryview | None = None) -> None:
        """Read segment ``i`` (into ``sealed``, else a fresh buffer) and decrypt it into
        ``target`` (exactly its length); on a failed tag ``target`` is zeroed and this raises."""
        from cryptography.exceptions import InvalidTag

        _, n, at = self._frame.spans(i)
        sealed = (sealed if sealed is not None else memoryview(bytearray(n + _TAG)))[: n + _TAG]
        got = 0
        while got < n + _TAG:
            done = os.preadv(self._fd, [sealed[got:]], at + got)
            if done == 0:
                raise tampered(self.where)  # shrank since it was opened
            got += done
        try:
            self._aead.decrypt_into(self._frame.nonce(i), sealed, self._frame.aad(i), target)
        except InvalidTag:
            target[:] = bytes(n)  # nothing unauthenticated is left in a caller's buffer
            raise tampered(self.where) from None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"{self.where}: seek before the start of the file")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("read from a closed sealed file")
        out = memoryview(buffer).cast("B")
        step, done = self._frame.segment, 0
        whole: list[tuple[int, memoryview]] = []  # segments read whole: straight into ``out``
        while done < len(out) and self._pos < self.size:
            i, offset = divmod(self._pos, step)
            n = self._frame.spans(i)[1]
            want = min(len(out) - done, n - offset)
            if offset == 0 and want == n and i != self._held:
                whole.append((i, out[done : done + n]))
            else:
                out[done : done + want] = self._load(i)[offset : offset + want]
            done += want
            self._pos += want
        if len(whole) == 1:
            self._decrypt(*whole[0], memoryview(self._sealed))
        elif whole:
            self._decrypt_many(whole)
        return done

    def _decrypt_many(self, whole: list[tuple[int, memoryview]]) -> None:
        """Several whole segments at once, on up to four threads (the cipher releases the
        GIL); if any fails, all of ``out`` that they cover is zeroed."""
        from concurrent.futures import ThreadPoolExecutor

        workers = min(len(os.sched_getaffinity(0)), 4, len(whole))
        try:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda job: self._decrypt(*job), whole))
        except BaseException:
            for _, target in whole:
                target[:] = bytes(len(target))
            raise

    def readall(self) -> bytes:
        left = max(0, self.size - self._pos)
        buf = bytearray(left)
        got = self.readinto(buf)
        return bytes(buf[:got])

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()
