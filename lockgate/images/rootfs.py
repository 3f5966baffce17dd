"""A Debian root filesystem as a tarball, made by debootstrap and cached between runs.

The tarball is what ``docker import`` takes. Building it needs root and a reachable Debian mirror
(~40 s); a cached one is reused when suite, mirror and package list are the same.

Before packing, files that only cost time are removed. The apt package lists
(``var/lib/apt/lists``, ~47 MB of text) matter most: trivy's secret scanner reads every file of
every layer, and those lists alone turn a 4 s image scan into one of ~160 s. Images that need
packages run ``apt-get update`` first, as with any official Debian image.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lockgate.errors import LockgateError

# Bump when the rootfs recipe changes, so cached tarballs of the old recipe are not reused.
RECIPE_VERSION = 1
VARIANT = "minbase"

# Relative to the rootfs: directories whose contents are caches or logs of the build.
_EMPTIED_DIRS = ("var/lib/apt/lists", "var/cache/apt", "var/log", "tmp", "var/tmp")
# Files that would carry the build host's identity into the image (the engine mounts its own).
_HOST_FILES = ("etc/hostname", "etc/resolv.conf")


class RootfsError(LockgateError):
    """The root filesystem cannot be built here (no debootstrap, not root, mirror failure)."""


@dataclass(frozen=True)
class RootfsRecipe:
    """What goes into a root filesystem; equal recipes share one cached tarball."""

    suite: str
    mirror: str
    include: tuple[str, ...]

    @property
    def key(self) -> str:
        text = json.dumps(
            [RECIPE_VERSION, VARIANT, self.suite, self.mirror, sorted(self.include)],
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RootfsTarball:
    """A packed root filesystem on disk and the UTC date its packages were fetched."""

    path: Path
    created: dt.datetime
    from_cache: bool


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/lockgate/base-images`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lockgate" / "base-images"


def rootfs_tarball(
    recipe: RootfsRecipe,
    cache_dir: Path,
    *,
    rebuild: bool = False,
    debootstrap: str = "debootstrap",
) -> RootfsTarball:
    """The cached tarball for ``recipe``, built with debootstrap when absent or ``rebuild``.

    ``debootstrap`` is the program to run, looked up on PATH and in /usr/sbin.
    """
    tarball = cache_dir / f"debian-{recipe.suite}-{recipe.key}.tar"
    stamp = tarball.with_suffix(".json")
    if not rebuild and tarball.is_file() and stamp.is_file():
        created = dt.datetime.fromisoformat(json.loads(stamp.read_text())["created"])
        return RootfsTarball(tarball, created, from_cache=True)
    program = _find_debootstrap(debootstrap)
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".rootfs-", dir=cache_dir))
    try:
        created = dt.datetime.now(dt.UTC).replace(microsecond=0)
        rootfs = work / "rootfs"
        _debootstrap(program, recipe, rootfs, work / "debootstrap.log")
        _remove_build_leftovers(rootfs)
        packed = work / "rootfs.tar"
        _pack(rootfs, packed)
        os.replace(packed, tarball)
        stamp_tmp = work / "stamp.json"
        stamp_tmp.write_text(json.dumps({"created": created.isoformat(), **recipe.__dict__}))
        os.replace(stamp_tmp, stamp)
    finally:
        _unmount_below(work)
        shutil.rmtree(work, ignore_errors=True)
    return RootfsTarball(tarball, created, from_cache=False)


def _find_debootstrap(name: str) -> str:
    program = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if program is None:
        raise RootfsError(
            f"{name} is not installed (not on PATH, not in /usr/sbin): "
            "install it: apt-get install debootstrap"
        )
    if os.geteuid() != 0:
        raise RootfsError(
            "debootstrap must run as root to build the base image: run this command as root "
            "(sudo), or on a machine that has the cached rootfs tarball"
        )
    return program


def _debootstrap(program: str, recipe: RootfsRecipe, rootfs: Path, log: Path) -> None:
    argv: list[str] = [program, f"--variant={VARIANT}"]
    if recipe.include:
        argv.append("--include=" + ",".join(recipe.include))
    argv += [recipe.suite, str(rootfs), recipe.mirror]
    with log.open("wb") as sink:
        done = subprocess.run(argv, stdout=sink, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = " | ".join(_last_lines(log, 4))
        raise RootfsError(
            f"debootstrap {recipe.suite} from {recipe.mirror} failed (exit {done.returncode}): "
            f"{tail}; check the mirror URI (--mirror) and the package names (--include)"
        )


def _last_lines(path: Path, count: int) -> Sequence[str]:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-count:]


def _remove_build_leftovers(rootfs: Path) -> None:
    for relative in _EMPTIED_DIRS:
        folder = rootfs / relative
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                # keep the directory tree (apt expects lists/partial, archives/partial),
                # drop the files in it
                for path in sorted(entry.rglob("*"), reverse=True):
                    if not path.is_dir() or path.is_symlink():
                        path.unlink()
            else:
                entry.unlink()
    for relative in _HOST_FILES:
        target = rootfs / relative
        if target.is_symlink() or target.exists():
            target.unlink()
        target.write_text("")


def _pack(rootfs: Path, tarball: Path) -> None:
    argv = ["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(tarball), "."]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RootfsError(f"packing {rootfs} into {tarball} failed: {done.stderr.strip()}")


def _unmount_below(folder: Path) -> None:
    """Unmount anything a failed debootstrap left mounted (proc, sys) before deleting."""
    prefix = str(folder.resolve()) + "/"
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[1] for line in mounts if len(line.split()) > 1]
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
