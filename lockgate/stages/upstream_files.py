"""Upstream outputs read from inside a built-in stage, sealed or plain, without opening them.

With ``encryption:`` set, an upstream output reaches a stage sealed. A stage the engine cannot
read for (a container, a command) gets it opened into plaintext first. The built-in stages named
in :data:`lockgate.engine.plan.READS_SEALED_INPUTS` instead get the sealed folder itself, and
read it through :class:`UpstreamFiles`: a file under a sealed ``in:STAGE`` folder opens as a
seekable file that decrypts only the segments a read touches
(:mod:`lockgate.engine.sealed_view`); a file under a plain one opens as it is.
:meth:`UpstreamFiles.read` gives a reader that wants every byte the whole plaintext in memory
instead, decrypted once. Every sealed folder is authenticated (index and listing) once, when
first read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lockgate.engine.sealed_tree import is_sealed, sealed_key_id
from lockgate.engine.sealing import SealError

if TYPE_CHECKING:
    from lockgate.engine.sealed_view import SealedFolder
    from lockgate.engine.sealing import Sealer
    from lockgate.stages.context import StageContext


class UpstreamFiles:
    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx
        self._views: dict[str, SealedFolder] = {}
        self._sealer: Sealer | None = None

    def sealed(self, path: Path) -> bool:
        """Whether ``path`` lies in a sealed upstream output."""
        return self._where(path) is not None

    def is_file(self, path: Path) -> bool:
        where = self._where(path)
        if where is None:
            return path.is_file()
        view, rel = where
        return rel in view.names()

    def open(self, path: Path) -> BinaryIO:
        """A read-only binary file over ``path``'s plaintext."""
        where = self._where(path)
        if where is None:
            return open(path, "rb")
        view, rel = where
        return view.open(rel)

    def read(self, path: Path, allocate: Callable[[int], Any] = bytearray) -> Any:
        """The whole plaintext of ``path`` in memory (a sealed file: decrypted once, every
        segment authenticated, into a buffer from ``allocate(size)``)."""
        where = self._where(path)
        if where is None:
            return path.read_bytes()
        view, rel = where
        return view.read(rel, allocate)

    def _where(self, path: Path) -> tuple[SealedFolder, str] | None:
        try:
            parts = path.relative_to(self.ctx.inputs).parts
        except ValueError:
            return None
        if not parts:
            return None
        stage = parts[0]
        folder = self.ctx.inputs / stage
        expected = self.ctx.in_digests.get(stage)
        if stage not in self._views and not is_sealed(folder):
            if expected is not None:  # the engine checked it sealed: its index went since
                raise SealError(
                    f"{folder}: stage {stage!r}'s outputs were sealed when this run checked "
                    "them, and their index is gone now: the folder was altered while the run "
                    "read it; run again"
                )
            return None
        if stage not in self._views:
            from lockgate.engine.sealed_tree import vouched
            from lockgate.engine.sealed_view import SealedFolder

            view = SealedFolder(folder, self._need_sealer(folder), stage=stage)
            if expected is not None:  # the folder the engine checked, not one swapped in since
                vouched({"outputs_digest": view.outputs_digest}, folder, stage, expected, None)
            self._views[stage] = view
        return self._views[stage], "/".join(parts[1:])

    def _need_sealer(self, folder: Path) -> Sealer:
        if self._sealer is None:
            self._sealer = self.ctx.at_rest_sealer()
        if self._sealer is None:
            raise SealError(
                f"{folder}: sealed with key {sealed_key_id(folder)}, but this stage was given "
                "no key",
                "set `encryption: {key: ...}` in lockgate.yaml",
                kind="other-key",
            )
        return self._sealer
