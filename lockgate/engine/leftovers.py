"""Plaintext a killed run left behind, removed by the next run with encryption on.

A run removes its plaintext outputs and its ``caches:`` folders when it ends, also on failure
and Ctrl-C; a run killed outright (SIGKILL, a lost machine) cannot. Every run holds an exclusive
``flock`` on ``runs/<id>/.live`` while it goes, which the kernel releases when its process dies,
however it dies. A run with encryption on looks at the other runs with no record: one whose
lock it can take is dead, and its plaintext output folders and cache folders are removed (its
sealed log stays). A run still going holds its lock and is left alone.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

LIVE = ".live"
RECORD = "run.json"
RUN_CACHES = ".caches"  # a sealed run's `caches:` folders, inside its run folder


class LiveMark:
    """This run's lock, held until :meth:`release` or until the process ends."""

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self._path = run_dir / LIVE
        self._fd: int | None = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        """Drop the lock (the run's record is written: the run is no longer anyone's to sweep)."""
        if self._fd is not None:
            self._path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


def sweep(runs: Path, current: Path) -> list[Path]:
    """Remove the plaintext of every dead run without a record under ``runs``; the folders
    removed."""
    removed: list[Path] = []
    if not runs.is_dir():
        return removed
    for run_dir in sorted(runs.iterdir()):
        if run_dir == current or not run_dir.is_dir() or (run_dir / RECORD).exists():
            continue
        if not _dead(run_dir):
            continue
        stages = [d for d in run_dir.iterdir() if d.is_dir()]
        # a stage's ``out`` is plaintext whatever it holds, and so is a folder a sealed
        # upstream was being opened into when the run died
        opening = [f for d in stages for f in d.glob(".out.opening-*")]
        for folder in [run_dir / RUN_CACHES, *(d / "out" for d in stages), *opening]:
            if folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def run_over(run_dir: Path) -> bool:
    """Whether the run has ended: its record is written, or no process holds its lock."""
    return (run_dir / RECORD).exists() or _dead(run_dir)


def _dead(run_dir: Path) -> bool:
    """Whether no process holds the run's lock (a run from before the lock existed: dead)."""
    try:
        fd = os.open(run_dir / LIVE, os.O_RDWR)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the lock taken just now
    return True
