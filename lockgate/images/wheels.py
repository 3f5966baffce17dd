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

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

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


def pinned_requirements(folder: Path) -> list[str] | None:
    """``name==version`` for every distribution in ``folder``, sorted: the set pip resolved,
    pinned. Requirement files that resolve to the same set get the same pins, so a runner image
    installed from them is the same layer for the engine's build cache (the tabular and the
    release pipelines share their torch and MLflow layer instead of installing it twice). None
    when a file name does not parse; the caller then installs its requirements as written."""
    pins = set()
    for path in folder.iterdir():
        if path.name.startswith("."):
            continue
        try:
            if path.suffix == ".whl":
                name, version, _, _ = parse_wheel_filename(path.name)
            else:
                name, version = parse_sdist_filename(path.name)
        except (InvalidWheelFilename, InvalidSdistFilename):
            return None
        pins.add(f"{name}=={version}")
    return sorted(pins) or None


def run_pip(args: Sequence[str]) -> None:
    """``python -m pip ARGS`` with this interpreter; pip's last line of complaint on failure."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise LockgateError(f"runner image: pip could not fetch the wheels: {last}")
