"""A sealed output folder read in place, file by file, without opening it into plaintext.

:class:`SealedFolder` authenticates the folder's index (bound to the stage that wrote it) and
its listing once, then :meth:`SealedFolder.open` gives a seekable file over any listed file that
decrypts only what is read (:mod:`lockgate.engine.sealed_reader`). This is how lockgate's own
stages read sealed upstream outputs: a Parquet reader reading a footer and a few column chunks
decrypts those segments and nothing else, and no plaintext copy is written. A stage lockgate does
not control (a container, a command) cannot read this way; it gets the folder opened into
plaintext (:func:`lockgate.engine.sealed_tree.open_tree`).
"""

from __future__ import annotations

import hashlib
import io
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lockgate.engine.sealed_reader import open_sealed, read_sealed
from lockgate.engine.sealed_tree import _listing, open_index
from lockgate.engine.sealing import SealError

if TYPE_CHECKING:
    from lockgate.engine.sealing import Sealer


class SealedFolder:
    def __init__(self, folder: Path, sealer: Sealer, *, stage: str) -> None:
        self.folder, self.stage, self.sealer = folder, stage, sealer
        index = open_index(folder, sealer, stage=stage)
        self.tree = str(index["tree"])
        self.outputs_digest = str(index["outputs_digest"])
        files, self.links, self.public = _listing(folder, index, stage)
        self.files = frozenset(files)

    def names(self) -> list[str]:
        """Every file of the folder (relative paths), links included."""
        return sorted(self.files | set(self.links) | set(self.public))

    def open(self, rel: str) -> BinaryIO:
        """A read-only, seekable binary file over the plaintext of ``rel``."""
        rel = self._follow(rel)
        where = str(self.folder / rel)
        if rel in self.files:
            return open_sealed(self.sealer, self.folder / rel, f"{self.tree}/{rel}", where)
        if rel in self.public:
            data = (self.folder / rel).read_bytes()
            if hashlib.sha256(data).hexdigest() != self.public[rel]:
                raise SealError(f"{where}: altered after sealing; re-run stage {self.stage!r}")
            return io.BytesIO(data)
        raise SealError(f"{where}: no such file in stage {self.stage!r}'s sealed outputs")

    def read(self, rel: str, allocate: Callable[[int], Any] = bytearray) -> Any:
        """The whole plaintext of ``rel``, authenticated, in memory (a buffer from
        ``allocate(size)`` for a large file): for a reader that wants every byte."""
        rel = self._follow(rel)
        if rel in self.files:
            where = str(self.folder / rel)
            return read_sealed(
                self.sealer, self.folder / rel, f"{self.tree}/{rel}", where, allocate
            )
        with self.open(rel) as f:
            return f.read()

    def _follow(self, rel: str) -> str:
        """``rel`` with the folder's recorded links followed (within the folder only)."""
        rel = posixpath.normpath(rel)
        for _ in range(40):
            link = self.links.get(rel)
            if link is None:
                return rel
            rel = posixpath.normpath(posixpath.join(posixpath.dirname(rel), link))
            if rel.startswith(("../", "/")) or rel == "..":
                raise SealError(f"{self.folder}: a link leads out of the sealed folder: {link}")
        raise SealError(f"{self.folder / rel}: too many links to follow")
