"""The framing of a sealed file on disk: segments, each its own AES-256-GCM message.

``MAGIC | key id (16) | base nonce (12) | segment size (u32) | plaintext size (u64)`` is the
header; then every segment's ciphertext followed by its 16-byte tag. Segment ``i`` is sealed
under the base nonce XOR ``i`` and authenticates the whole header, the name the file is sealed
under, ``i`` and whether it is the last segment. So a flipped bit, segments reordered or
repeated, a file cut at a segment boundary (the new last segment does not say it is last, and
the header's size no longer matches), a file swapped for another or a wrong key all fail.

Segments are independent, so both directions read the source through a memory map and work on
several segments at a time: ``cryptography`` releases the GIL while OpenSSL works, each segment
is sealed or opened into a buffer its worker reuses and written at its place with one
``pwrite``, and no Python loop touches the bytes. A file opens under a temporary name that is
renamed only once every tag checked out. :func:`read_file` opens a whole file into memory
instead, each segment decrypted straight to its place in one buffer, for a reader that wants
every byte and writes nothing to disk.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from lockgate.engine.sealing import Sealer

MAGIC = b"LGSEAL2\n"
SEGMENT = 4 << 20
_TAG = 16
_SIZES = struct.Struct(">IQ")
HEADER = len(MAGIC) + 16 + 12 + _SIZES.size
_PARALLEL_FROM = 2 * SEGMENT  # a pool costs more than it saves on smaller files
_LARGEST = 64 << 20  # the largest segment a header may declare (each worker holds one)


def sealed_size(plain: int, segment: int = SEGMENT) -> int:
    return HEADER + plain + _TAG * _segments(plain, segment)


def seal_file(sealer: Sealer, src: Path, dst: Path, name: str, segment: int = SEGMENT) -> None:
    """Seal ``src`` into ``dst`` (written in place: ``dst`` is a new file in a new folder)."""
    with open(src, "rb") as fin, open(dst, "wb") as fout, ExitStack() as maps:
        plain = os.fstat(fin.fileno()).st_size
        header = MAGIC + bytes.fromhex(sealer.key_id) + os.urandom(12) + _SIZES.pack(segment, plain)
        _write_at(fout.fileno(), memoryview(header), 0)
        source = _mapped(maps, fin, plain)
        aead, frame = _aead(sealer.key), _Frame(header, name, plain, segment)

        def one(i: int, buf: memoryview) -> bool:
            at, n, sealed = frame.spans(i)
            aead.encrypt_into(frame.nonce(i), source[at : at + n], frame.aad(i), buf[: n + _TAG])
            _write_at(fout.fileno(), buf[: n + _TAG], sealed)
            return True

        _each(frame, one, _TAG)


def open_file(sealer: Sealer, src: Path, dst: Path, name: str, where: str) -> None:
    """Open ``src`` into ``dst``; ``dst`` appears only once every segment authenticated."""
    from cryptography.exceptions import InvalidTag

    from lockgate.engine.sealing import tampered

    tmp = dst.with_name(f".{dst.name}.opening")
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout, ExitStack() as maps:
            aead, frame, size = _opening(sealer, fin, name, where)
            source = _mapped(maps, fin, size)

            def one(i: int, buf: memoryview) -> bool:
                at, n, sealed = frame.spans(i)
                try:  # no exception leaves: its frame would hold a view of the map open
                    aead.decrypt_into(
                        frame.nonce(i), source[sealed : sealed + n + _TAG], frame.aad(i), buf[:n]
                    )
                except InvalidTag:
                    return False
                _write_at(fout.fileno(), buf[:n], at)
                return True

            if not all(_each(frame, one, 0)):
                raise tampered(where)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_file(
    sealer: Sealer, src: Path, name: str, where: str, allocate: Callable[[int], Any] = bytearray
) -> Any:
    """The whole plaintext of ``src`` in one buffer from ``allocate(size)`` (writable, exactly
    ``size`` bytes), returned only once every segment authenticated. Each segment is decrypted
    from a memory map of ``src`` straight to its place in the buffer, on several threads: one
    pass over the bytes, nothing written to disk. A buffer that failed is never returned."""
    from cryptography.exceptions import InvalidTag

    from lockgate.engine.sealing import tampered

    with open(src, "rb") as fin, ExitStack() as maps:
        aead, frame, size = _opening(sealer, fin, name, where)
        source = _mapped(maps, fin, size)
        out = allocate(frame.plain)
        with memoryview(out) as view, view.cast("B") as target:
            if len(target) != frame.plain:
                raise ValueError(f"allocate({frame.plain}) gave {len(target)} bytes")

            def one(i: int, _: memoryview) -> bool:
                at, n, sealed = frame.spans(i)
                try:  # no exception leaves: its frame would hold a view of the map open
                    aead.decrypt_into(
                        frame.nonce(i),
                        source[sealed : sealed + n + _TAG],
                        frame.aad(i),
                        target[at : at + n],
                    )
                except InvalidTag:
                    return False
                return True

            ok = all(_each(frame, one, 0, buffers=False))
    if not ok:
        raise tampered(where)
    return out


def _opening(sealer: Sealer, fin: BinaryIO, name: str, where: str) -> tuple[AESGCM, _Frame, int]:
    """The cipher, the framing and the sealed size of the segmented file open as ``fin``, its
    header checked: refused before any segment is read when it is not sealed, names a key this
    sealer cannot find, or its size is not the one the header declares."""
    from lockgate.engine.sealing import not_sealed, tampered

    size = os.fstat(fin.fileno()).st_size
    fin.seek(0)
    header = fin.read(HEADER)
    if not header.startswith(MAGIC) or size < HEADER + _TAG:
        raise not_sealed(where)
    key = sealer.key_for(header[len(MAGIC) : len(MAGIC) + 16].hex(), where)
    segment, plain = _SIZES.unpack(header[HEADER - _SIZES.size :])
    if not 0 < segment <= _LARGEST or size != sealed_size(plain, segment):
        raise tampered(where)
    return _aead(key), _Frame(header, name, plain, segment), size


class _Frame:
    def __init__(self, header: bytes, name: str, plain: int, segment: int) -> None:
        self.prefix = header + name.encode()
        self.base = int.from_bytes(header[len(MAGIC) + 16 : len(MAGIC) + 28], "big")
        self.plain, self.segment = plain, segment
        self.count = _segments(plain, segment)

    def nonce(self, i: int) -> bytes:
        return (self.base ^ i).to_bytes(12, "big")

    def aad(self, i: int) -> bytes:
        return self.prefix + struct.pack(">QB", i, i == self.count - 1)

    def spans(self, i: int) -> tuple[int, int, int]:
        """Where segment ``i`` starts in the plaintext, its length, where it starts sealed."""
        at = i * self.segment
        return at, min(self.segment, self.plain - at), HEADER + i * (self.segment + _TAG)


def _segments(plain: int, segment: int) -> int:
    return max(1, -(-plain // segment))


def _aead(key: bytes) -> AESGCM:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def _each(
    frame: _Frame, one: Callable[[int, memoryview], bool], extra: int, *, buffers: bool = True
) -> list[bool]:
    """``one(i, buffer)`` for every segment; each worker reuses one buffer of a segment (plus
    ``extra`` bytes) for the segments it takes in turn (an empty one without ``buffers``)."""
    count, size = frame.count, frame.plain
    workers = min(len(os.sched_getaffinity(0)), 4, count) if size >= _PARALLEL_FROM else 1
    length = min(frame.segment, size) + extra if buffers else 0

    def share(first: int) -> list[bool]:
        buf = memoryview(bytearray(length))
        return [one(i, buf) for i in range(first, count, workers)]

    if workers <= 1:
        return share(0)
    with ThreadPoolExecutor(workers) as pool:
        return [ok for oks in pool.map(share, range(workers)) for ok in oks]


def _write_at(fd: int, data: memoryview, offset: int) -> None:
    """``pwrite`` until all of ``data`` is written (a short write is retried; a full disk
    raises)."""
    while data:
        done = os.pwrite(fd, data, offset)
        data, offset = data[done:], offset + done


def _mapped(maps: ExitStack, file: BinaryIO, size: int) -> memoryview:
    """A read-only memory map of ``file`` (an empty view for an empty file), released and
    closed when ``maps`` closes."""
    if size == 0:
        return memoryview(b"")
    region = maps.enter_context(mmap.mmap(file.fileno(), size, access=mmap.ACCESS_READ))
    return maps.enter_context(memoryview(region))
