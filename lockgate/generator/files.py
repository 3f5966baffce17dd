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

from lockgate.errors import LockgateError
from lockgate.generator.rendered import Rendered


@dataclass(frozen=True)
class FileOutcome:
    path: Path
    status: Literal["written", "unchanged", "stale", "removed"]
    diff: str = ""


def target_path(root: Path, rel: str) -> Path:
    """Where a rendered file goes: inside the repository ``root``, and not onto a folder."""
    path = Path(os.path.normpath(root / rel))
    if not path.is_relative_to(root):
        raise LockgateError(
            f"--out {rel}: outside the repository root {root}; give a path inside it "
            "(relative to --root)"
        )
    if path.exists() and not path.is_file():
        raise LockgateError(f"--out {rel}: {path} is a folder, not a file; name the file to write")
    return path


def target_text(path: Path, rendered: Rendered, update: bool) -> str:
    if not update or rendered.format == "script" or not path.is_file():
        return rendered.text
    from lockgate.generator.merge import UPDATERS

    return UPDATERS[rendered.format](_read(path), rendered.text, str(path))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise LockgateError(
            f"{path}: not UTF-8 text, so lockgate cannot compare or merge it; save it as UTF-8 "
            "or remove it and generate it afresh"
        ) from None
    except OSError as exc:
        raise LockgateError(
            f"{path}: cannot read it ({exc.strerror}); check its permissions"
        ) from None


def apply_file(path: Path, text: str, *, check: bool, root: Path) -> FileOutcome:
    current = _read(path) if path.is_file() else None
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
    try:
        write_atomic(path, text, executable=path.suffix == ".sh")
    except OSError as exc:
        raise LockgateError(
            f"{path}: cannot write it ({exc.strerror}); make its folder writable or choose "
            "another --out"
        ) from None
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


def remove_leftover(path: Path, *, check: bool, root: Path) -> FileOutcome:
    """A generated file the spec no longer asks for: stale under ``check``, else removed."""
    rel = path.relative_to(root).as_posix()
    if check:
        current = _read(path).splitlines(keepends=True)
        diff = "".join(difflib.unified_diff(current, [], fromfile=f"a/{rel}", tofile="/dev/null"))
        return FileOutcome(path, "stale", diff)
    try:
        path.unlink()
    except OSError as exc:
        raise LockgateError(
            f"{rel}: cannot remove it ({exc.strerror}); remove it yourself: the spec no longer "
            "asks for it"
        ) from None
    return FileOutcome(path, "removed")
