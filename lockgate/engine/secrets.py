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
    contains another is masked whole). Lines are masked one at a time, so a value is also masked
    without the whitespace around it (an ``env:`` value that ends in a newline) and, when it
    spans lines (a PEM key, a service account's JSON), line by line."""

    def __init__(self, values: Iterable[str]) -> None:
        forms = {f for v in values for f in (v, v.strip(), *(ln.strip() for ln in v.splitlines()))}
        self._values = sorted({f for f in forms if len(f) >= 3}, key=len, reverse=True)

    def __call__(self, line: str) -> str:
        for value in self._values:
            if value in line:
                line = line.replace(value, MASK)
        return line

    def extend(self, values: Iterable[str]) -> Masker:
        return Masker([*self._values, *values])


PREFIX = "lockgate-secrets-"
HELD = "held"  # beside the secrets, locked while the folder's owner lives


class SecretFiles:
    """A private folder with one file per secret, on a RAM-backed filesystem where there is one,
    removed when the stage ends. Never inside the project, the cache or an image.

    A process killed outright (SIGKILL, OOM) cannot remove its folder. So each folder carries a
    file its process keeps an exclusive ``flock`` on, which the kernel drops when the process
    dies, however it dies; making a folder first removes this user's folders whose lock can be
    taken, so a killed run's secrets last until the next stage starts, not until a reboot."""

    def __init__(self, values: Mapping[str, str]) -> None:
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
        sweep_secret_folders(base)
        self._folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))  # mode 0700
        self._held = _hold(self._folder)
        self.path = self._folder / "secrets"  # what a stage sees: the secrets and nothing else
        self.path.mkdir(mode=0o700)
        self.put(values)

    def put(self, values: Mapping[str, str]) -> None:
        """Write these secrets, replacing files of the same names (minted credentials are
        replaced before each attempt)."""
        for name, value in values.items():
            target = self.path / name
            target.unlink(missing_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            with os.fdopen(fd, "w") as f:
                f.write(value)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)
        os.close(self._held)


def _hold(folder: Path) -> int:
    """Lock a new file, then give it its name: a sweeper never sees it unlocked."""
    import fcntl

    pending = folder / f"{HELD}.new"
    fd = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(pending, folder / HELD)
    return fd


def sweep_secret_folders(base: Path) -> list[Path]:
    """Remove this user's secret folders under ``base`` whose process is gone; those removed.
    A folder without the lock file (being made, or made by another program) is left alone."""
    import fcntl

    removed = []
    for folder in base.glob(f"{PREFIX}*"):
        try:
            if folder.is_symlink() or folder.lstat().st_uid != os.getuid():
                continue
            fd = os.open(folder / HELD, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # its process is alive
        finally:
            os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed
