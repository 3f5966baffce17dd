"""A stage's log sealed as it is written: no line it prints reaches the disk in plaintext.

The framing follows :mod:`lockgate.engine.sealed_file`, for a file whose length is not known
in advance: a header ``MAGIC | key id (16) | base nonce (12)``, then segments, each
``plaintext length (u32) | ciphertext | tag (16)`` and its own AES-256-GCM message. Segment
``i`` is sealed under the base nonce XOR ``i`` and authenticates the header, the name the log
is bound to (its run and stage), ``i`` and whether it is the last segment. Each flush of the
buffered lines appends one segment with one ``write``; closing the log appends the last one.

Reading back: altered bytes, segments reordered or repeated, a segment cut inside, bytes after
the last segment, a wrong key or a log moved to another run or stage fail with one line naming
the file. A log whose last segment is missing (its run is still going, or was killed) opens
up to what was flushed, and says so.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from lockgate.engine.sealing import Sealer

LOG, SEALED_LOG = "log.txt", "log.txt.sealed"
MAGIC = b"LGSLOG1\n"
HEADER = len(MAGIC) + 16 + 12
_TAG = 16
_LEN = struct.Struct(">I")
FLUSH_BYTES = 64 << 10  # a fuller buffer is flushed at once, by the thread that filled it
FLUSH_SECONDS = 0.2  # buffered lines wait at most this long for the flusher thread
_LARGEST = 64 << 20  # the largest segment a reader accepts


def _aad(header: bytes, name: str, i: int, last: bool) -> bytes:
    return header + name.encode() + struct.pack(">QB", i, last)


def _nonce(header: bytes, i: int) -> bytes:
    base = int.from_bytes(header[len(MAGIC) + 16 : HEADER], "big")
    return (base ^ i).to_bytes(12, "big")


class SealedLogWriter:
    """Appends lines to a new sealed log; buffered lines become one segment at each flush:
    when the buffer passes :data:`FLUSH_BYTES`, after :data:`FLUSH_SECONDS`, and on close."""

    at_rest = SEALED_LOG

    def __init__(self, sealer: Sealer, path: Path, name: str) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead: AESGCM = AESGCM(sealer.key)
        self._header = MAGIC + bytes.fromhex(sealer.key_id) + os.urandom(12)
        self._name = name
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        os.write(self._fd, self._header)
        self._pending: list[bytes] = []
        self._size = 0
        self._index = 0
        self._closed = False
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._flusher = threading.Thread(target=self._flush_now_and_then, daemon=True)
        self._flusher.start()

    def write_line(self, line: str) -> None:
        data = (line + "\n").encode("utf-8", "replace")
        with self._lock:
            if self._closed:
                return
            if not self._pending:
                self._wake.notify()  # the flusher's clock starts with the first pending line
            self._pending.append(data)
            self._size += len(data)
            if self._size >= FLUSH_BYTES:
                self._flush(last=False)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._flush(last=True)
            self._closed = True
            self._wake.notify()
        self._flusher.join()
        os.close(self._fd)

    def __enter__(self) -> SealedLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _flush_now_and_then(self) -> None:
        with self._lock:
            while not self._closed:
                if not self._pending:
                    self._wake.wait()
                    continue
                due = time.monotonic() + FLUSH_SECONDS
                while not self._closed and (left := due - time.monotonic()) > 0:
                    self._wake.wait(left)
                if not self._closed:
                    self._flush(last=False)

    def _flush(self, *, last: bool) -> None:
        """Seal what is pending (under the lock) as the next segment; the last one may be
        empty."""
        if not self._pending and not last:
            return
        plain = b"".join(self._pending)
        self._pending, self._size = [], 0
        chunks = [plain[at : at + _LARGEST] for at in range(0, len(plain), _LARGEST)] or [b""]
        frames = []
        for n, chunk in enumerate(chunks):
            final = last and n == len(chunks) - 1
            aad = _aad(self._header, self._name, self._index, final)
            sealed = self._aead.encrypt(_nonce(self._header, self._index), chunk, aad)
            frames.append(_LEN.pack(len(chunk)) + sealed)
            self._index += 1
        data = memoryview(b"".join(frames))
        while data:
            data = data[os.write(self._fd, data) :]


@dataclass(frozen=True)
class OpenedLog:
    text: bytes
    complete: bool  # the last segment was there: the writer closed the log

    @property
    def lines(self) -> int:
        return self.text.count(b"\n")


def is_sealed_log(data: bytes) -> bool:
    return data.startswith(MAGIC)


def open_log(sealer: Sealer, path: Path, name: str) -> OpenedLog:
    """The log at ``path``, bound to ``name``: every segment authenticated, or
    :class:`~lockgate.engine.sealing.SealError` naming the file. A segment being written as it
    is read is waited for once."""
    from lockgate.engine.sealing import SealError

    data = path.read_bytes()
    try:
        return _open(sealer, data, name, str(path))
    except _CutInside:
        time.sleep(FLUSH_SECONDS)  # a live log: the writer may be finishing that segment
        try:
            return _open(sealer, path.read_bytes(), name, str(path))
        except _CutInside as cut:
            raise SealError(
                f"{path}: segment {cut.index} is cut short inside: the log was truncated or "
                "altered; re-run the stage to get its log again"
            ) from None


class _CutInside(Exception):
    def __init__(self, index: int) -> None:
        self.index = index


def _open(sealer: Sealer, data: bytes, name: str, where: str) -> OpenedLog:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from lockgate.engine.sealing import SealError, not_sealed, tampered

    if not data.startswith(MAGIC) or len(data) < HEADER:
        raise not_sealed(where, "log")
    header = data[:HEADER]
    aead = AESGCM(sealer.key_for(header[len(MAGIC) : len(MAGIC) + 16].hex(), where))
    parts: list[bytes] = []
    at, i = HEADER, 0
    while at < len(data):
        if len(data) - at < _LEN.size:
            raise _CutInside(i)
        (n,) = _LEN.unpack_from(data, at)
        if n > _LARGEST:
            raise tampered(where)
        end = at + _LEN.size + n + _TAG
        if end > len(data):
            raise _CutInside(i)
        body, nonce = data[at + _LEN.size : end], _nonce(header, i)
        for last in (False, True):
            try:
                parts.append(aead.decrypt(nonce, body, _aad(header, name, i, last)))
            except InvalidTag:
                continue
            break
        else:
            raise tampered(where)
        at, i = end, i + 1
        if last:
            if at != len(data):
                raise SealError(f"{where}: bytes were added after the log's last segment")
            return OpenedLog(b"".join(parts), complete=True)
    return OpenedLog(b"".join(parts), complete=False)


class PlainLogWriter:
    """A stage's ``log.txt`` as it is, for runs without encryption."""

    at_rest = LOG

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    def write_line(self, line: str) -> None:
        self._file.write(line + "\n")

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PlainLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def log_name(stage_dir: Path) -> str:
    """What a log is sealed under: its run and stage, so a log moved elsewhere does not open."""
    return f"log:{stage_dir.parent.name}/{stage_dir.name}"


LogWriter = SealedLogWriter | PlainLogWriter


def log_writer(sealer: Sealer | None, stage_dir: Path) -> LogWriter:
    """Where a stage's lines go in its run folder: sealed as written when encryption is on."""
    if sealer is None:
        return PlainLogWriter(stage_dir / LOG)
    return SealedLogWriter(sealer, stage_dir / SEALED_LOG, log_name(stage_dir))


def read_log(sealer: Sealer | None, stage_dir: Path) -> OpenedLog:
    """A stage's log from its run folder: opened when sealed (also one sealed whole when its
    run ended, as earlier versions did), as it is when not."""
    from lockgate.engine.sealing import SealError
    from lockgate.errors import LockgateError

    plain, sealed = stage_dir / LOG, stage_dir / SEALED_LOG
    if sealed.is_file():
        if sealer is None:
            raise SealError(
                f"{sealed}: the log is sealed, but lockgate.yaml sets no `encryption:`; set it "
                "to the key the run used"
            )
        with sealed.open("rb") as file:
            live = is_sealed_log(file.read(len(MAGIC)))
        if live:
            return open_log(sealer, sealed, log_name(stage_dir))
        text = sealer.open(sealed.read_bytes(), log_name(stage_dir), str(sealed))
        return OpenedLog(text, complete=True)
    if plain.is_file():
        return OpenedLog(plain.read_bytes(), complete=True)
    raise LockgateError(f"{stage_dir}: no log here (the stage did not run in this run)")
