"""Rendered CI files onto disk: merged into the existing file on ``--update``, compared on
``--check`` (a unified diff when stale), otherwise written atomically (temp file +
``os.replace``)."""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lockgate.generator.rendered import Rendered


@dataclass(frozen=True)
class FileOutcome:
    path: Path
    status: Literal["written", "unchanged", "stale"]
    diff: str = ""


def target_text(path: Path, rendered: Rendered, update: bool) -> str:
    if not update or rendered.format == "script" or not path.is_file():
        return rendered.text
    from lockgate.generator.merge import UPDATERS

    return UPDATERS[rendered.format](path.read_text(encoding="utf-8"), rendered.text, str(path))


def apply_file(path: Path, text: str, *, check: bool, root: Path) -> FileOutcome:
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if current == text:
        return FileOutcome(path, "unchanged")
    if check:
        rel = path.relative_to(root).as_posix()
        diff = "".join(
            difflib.unified_diff(
                (current or "").splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"a/{rel}" if current is not None else "/dev/null",
                tofile=f"b/{rel}",
            )
        )
        return FileOutcome(path, "stale", diff)
    write_atomic(path, text, executable=path.suffix == ".sh")
    return FileOutcome(path, "written")


def write_atomic(path: Path, text: str, *, executable: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o755 if executable else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
