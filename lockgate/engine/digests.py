"""Content digests of files, globs and output trees, with a stat memo so unchanged files are
not re-read on every run."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 20
_SKIP_DIRS = {".git", ".lockgate", "__pycache__", ".venv", "node_modules"}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_json(value: object) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


class FileDigests:
    """sha256 of files, remembered by (size, mtime_ns, inode) in one JSON file.

    A stale memo is harmless (it is only trusted when all three match); it is rewritten
    atomically so a crash never leaves it half-written.
    """

    def __init__(self, memo_path: Path | None) -> None:
        self._path = memo_path
        self._memo: dict[str, list[object]] = {}
        self._dirty = False
        if memo_path is not None:
            try:
                self._memo = json.loads(memo_path.read_text())
            except (OSError, ValueError):
                self._memo = {}

    def digest(self, path: Path) -> str:
        st = path.stat()
        key = str(path)
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        hit = self._memo.get(key)
        if hit is not None and hit[:3] == stamp:
            return str(hit[3])
        value = file_sha256(path)
        self._memo[key] = [*stamp, value]
        self._dirty = True
        return value

    def save(self) -> None:
        if not self._dirty or self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self._memo))
        os.replace(tmp, self._path)
        self._dirty = False


def glob_files(root: Path, patterns: Iterable[str]) -> list[Path]:
    """Files under ``root`` matching any of ``patterns`` (``**`` allowed), sorted, no dirs."""
    found: set[Path] = set()
    for pattern in patterns:
        for p in root.glob(pattern):
            if p.is_file() and not (_SKIP_DIRS & set(p.relative_to(root).parts[:-1])):
                found.add(p)
            elif p.is_dir():
                found.update(
                    f for f in p.rglob("*") if f.is_file() and not (_SKIP_DIRS & set(f.parts))
                )
    return sorted(found)


def inputs_digest(root: Path, patterns: Iterable[str], files: FileDigests) -> dict[str, str]:
    """``{relative path: sha256}`` of the files the patterns match."""
    return {str(p.relative_to(root)): files.digest(p) for p in glob_files(root, patterns)}


def tree_digest(root: Path) -> str:
    """One digest for a folder: relative paths, contents and the executable bit of every file.
    Timestamps and owners do not count, so the same outputs from two executors are equal."""
    entries: list[list[object]] = []
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            entries.append([str(p.relative_to(root)), "link", os.readlink(p)])
        elif p.is_file():
            executable = bool(p.stat().st_mode & 0o111)
            entries.append([str(p.relative_to(root)), file_sha256(p), executable])
    return sha256_json(entries)
