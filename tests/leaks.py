"""Where a secret or a plaintext a test planted could have been left on the host by what ran
meanwhile: files written since a moment in the system's temporary folder and in ``/dev/shm``
(where the secrets lent to a container are kept while it runs).

Test sessions' own folders (``pytest-of-*``) are left out: each test searches its own project
itself, and the other folders belong to other tests, of this test run or of another running
beside it, which may hold the same fixed test values."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def files_under(*folders: Path, since: float = 0.0) -> Iterator[Path]:
    """Regular files under ``folders`` modified at or after ``since``; a file or folder another
    process removes meanwhile is passed over (``os.walk`` does, ``rglob`` would raise)."""
    for folder in folders:
        for top, _dirs, names in os.walk(folder):
            for name in names:
                path = Path(top) / name
                try:
                    if path.is_file() and not path.is_symlink() and path.stat().st_mtime >= since:
                        yield path
                except OSError:
                    continue


def written_since(needles: list[bytes], since: float) -> list[Path]:
    """Files written since ``since`` in the temporary folder or ``/dev/shm`` holding a needle."""
    temp = Path(tempfile.gettempdir())
    roots = [Path("/dev/shm"), *(p for p in temp.iterdir() if not p.name.startswith("pytest-of-"))]
    loose = [r for r in roots if r.is_file() and not r.is_symlink() and r.stat().st_mtime >= since]
    found = []
    for path in [*loose, *files_under(*(r for r in roots if r.is_dir()), since=since)]:
        try:
            body = path.read_bytes() if path.stat().st_size < 64 << 20 else b""
        except OSError:  # another process's file, gone or unreadable
            continue
        if any(n in body for n in needles):
            found.append(path)
    return found
