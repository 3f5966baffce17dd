"""Train checkpoints sealed at rest (``encryption:`` in lockgate.yaml), with no plaintext copy on
disk.

A checkpoint is serialized into anonymous memory (a Linux ``memfd``, which never touches a
file system) and sealed from there in the segmented layout of :mod:`lockgate.engine.sealed_file`:
each segment its own AES-256-GCM message, so a checkpoint of any size seals (one GCM message
caps at 2**31 - 1 bytes). It opens back into anonymous memory, every segment authenticated
before ``torch.load`` reads a byte. Where there is no ``memfd`` the plaintext is held in a
Python buffer and sealed as one message, which refuses a checkpoint of 2 GiB or more with one
line. Checkpoints sealed as one message by earlier versions still open.
"""

from __future__ import annotations

import io
import mmap
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.engine.sealing import Sealer


def _anonymous(name: str) -> IO[bytes] | None:
    """A read-write file in memory only, or None where the platform has no ``memfd``."""
    create = getattr(os, "memfd_create", None)
    if create is None:
        return None
    return os.fdopen(create(name), "w+b")


def _proc_path(fh: IO[bytes]) -> Path:
    return Path(f"/proc/self/fd/{fh.fileno()}")


def write_sealed(sealer: Sealer, state: dict[str, Any], dst: Path, name: str) -> None:
    """``torch.save(state)`` sealed under ``name`` into the new file ``dst``, flushed to disk."""
    import torch

    from lockgate.engine import sealed_file
    from lockgate.engine.sealing import ONE_MESSAGE_MAX, SealError

    memory = _anonymous("lockgate-checkpoint")
    if memory is not None:
        with memory:
            torch.save(state, memory)
            memory.flush()
            sealed_file.seal_file(sealer, _proc_path(memory), dst, name)
    else:
        buf = io.BytesIO()
        torch.save(state, buf)
        if buf.getbuffer().nbytes > ONE_MESSAGE_MAX:
            raise SealError(
                f"{dst.parent}: a checkpoint of {buf.getbuffer().nbytes / 2**30:.1f} GiB cannot "
                "be sealed in memory on this platform (no memfd); train on Linux, or turn "
                "encryption off for this stage's checkpoints"
            )
        dst.write_bytes(sealer.seal(buf.getbuffer(), name))
    with open(dst, "rb+") as fh:
        os.fsync(fh.fileno())


def is_sealed(head: bytes) -> bool:
    from lockgate.engine import sealed_file
    from lockgate.engine.sealing import MAGIC

    return head.startswith((MAGIC, sealed_file.MAGIC))


def open_sealed(sealer: Sealer, path: Path, name: str) -> IO[bytes]:
    """The plaintext of the checkpoint ``path`` sealed under ``name``, as a file to
    ``torch.load``; :class:`SealError` when it does not open."""
    from lockgate.engine import sealed_file

    with open(path, "rb") as fh:
        segmented = fh.read(len(sealed_file.MAGIC)) == sealed_file.MAGIC
    if not segmented:  # one message, as earlier versions sealed every checkpoint
        return io.BytesIO(sealer.open(path.read_bytes(), name, str(path)))
    memory = _anonymous("lockgate-checkpoint")
    if memory is None:
        return io.BytesIO(sealed_file.read_file(sealer, path, name, str(path)))

    def allocate(size: int) -> mmap.mmap:  # the plaintext goes straight into the memfd
        os.ftruncate(memory.fileno(), size)
        return mmap.mmap(memory.fileno(), size)  # a checkpoint is never empty

    try:
        region = sealed_file.read_file(sealer, path, name, str(path), allocate)
        if isinstance(region, mmap.mmap):
            region.close()
    except BaseException:
        memory.close()
        raise
    memory.seek(0)
    return memory
