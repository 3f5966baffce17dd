"""Secret values: read at run time, handed to stages as files, masked in every line of output."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lockgate.errors import LockgateError

MASK = "***"
MAX_SECRET_BYTES = 1024 * 1024  # keys and tokens are small; this stops a read of /dev/zero


def resolve_secrets(
    declared: Mapping[str, Mapping[str, Any]], names: Iterable[str], project: Path
) -> dict[str, str]:
    """Values of the named secrets from their declared sources (``{"env": ...}`` or
    ``{"file": ...}``)."""
    return {name: _read_secret(name, declared[name], project) for name in names}


def missing_secrets(
    declared: Mapping[str, Mapping[str, Any]], names: Iterable[str], project: Path
) -> list[str]:
    """For ``validate`` and ``plan``: why each of the named secrets could not be read now (the
    same words a run would fail with), without keeping any value."""
    problems = []
    for name in names:
        try:
            _read_secret(name, declared[name], project)
        except LockgateError as exc:
            problems.append(str(exc))
    return problems


def _read_secret(name: str, source: Mapping[str, Any], project: Path) -> str:
    if source.get("env") is not None:
        value = os.environ.get(source["env"])
        if value is None:
            raise LockgateError(
                f"secret {name!r}: environment variable {source['env']} is not set; export "
                "it or point the secret at a file"
            )
        return value
    path = Path(os.path.expanduser(source["file"]))
    path = path if path.is_absolute() else project / path
    try:
        data = _read_regular_file(path, MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise LockgateError(f"secret {name!r}: cannot read {path}: {exc.strerror}") from None
    if data is None:
        raise LockgateError(
            f"secret {name!r}: {path} is not a regular file (a pipe, socket or device would "
            "block or never end); point the secret at a file that holds the key or token"
        )
    if len(data) > MAX_SECRET_BYTES:
        raise LockgateError(
            f"secret {name!r}: {path} holds more than {MAX_SECRET_BYTES:,} bytes; "
            "point the secret at the file with just the key or token"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise LockgateError(
            f"secret {name!r}: {path} is not UTF-8 text; store the secret as text (e.g. base64)"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")  # as text mode reads


def _read_regular_file(path: Path, limit: int) -> bytes | None:
    """Up to ``limit`` bytes of ``path``, or None when it is not a regular file. Opened
    non-blocking and checked before any read, so a FIFO never hangs ``validate`` or a run."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit)
    finally:
        os.close(fd)


class Masker:
    """Replaces every secret value in a line with ``***`` (longest values first, so a secret that
    contains another is masked whole)."""

    def __init__(self, values: Iterable[str]) -> None:
        self._values = sorted({v for v in values if len(v) >= 3}, key=len, reverse=True)

    def __call__(self, line: str) -> str:
        for value in self._values:
            if value in line:
                line = line.replace(value, MASK)
        return line

    def extend(self, values: Iterable[str]) -> Masker:
        return Masker([*self._values, *values])


class SecretFiles:
    """A private folder with one file per secret, on a RAM-backed filesystem where there is one,
    removed when the stage ends. Never inside the project, the cache or an image."""

    def __init__(self, values: Mapping[str, str]) -> None:
        shm = Path("/dev/shm")
        base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
        self.path = Path(tempfile.mkdtemp(prefix="lockgate-secrets-", dir=base))
        os.chmod(self.path, 0o700)
        for name, value in values.items():
            target = self.path / name
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            with os.fdopen(fd, "w") as f:
                f.write(value)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
