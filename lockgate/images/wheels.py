"""Wheels for a runner image, fetched on the host by pip and kept in a cache folder.

Containers may not reach a package index, so every executor that builds a runner image fetches
its wheels here first and installs them offline. A set is fetched into a temporary folder next
to the cache and renamed into place only when every pip step succeeded, so an interrupted fetch
never leaves a half-filled set behind that a later run would trust.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from lockgate.errors import LockgateError

PipSteps = Callable[[Path], Iterable[Sequence[str]]]


def cached_wheels(cache: Path, key: str, steps: PipSteps) -> Path:
    """The folder ``cache/key``, filled by running ``steps(folder)`` (each a list of arguments
    for ``python -m pip``) the first time this key is asked for."""
    dest = cache / key
    if dest.is_dir():
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache))
    try:
        for args in steps(tmp):
            run_pip(args)
        try:
            os.replace(tmp, dest)
        except OSError:
            if not dest.is_dir():  # not a concurrent fetch of the same set that finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def run_pip(args: Sequence[str]) -> None:
    """``python -m pip ARGS`` with this interpreter; pip's last line of complaint on failure."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise LockgateError(f"runner image: pip could not fetch the wheels: {last}")
