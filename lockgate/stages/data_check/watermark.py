"""Incremental mode: check only the partitions added since the last recorded watermark.

The watermark is the greatest partition key already checked, where the key is the file's path
relative to the dataset root (``order_by: name``; hive folders like ``date=2024-05-01`` and
zero-padded names sort in time order) or its modification time (``order_by: mtime``). It is
stored as JSON under ``<state>/data-check/<stage>/watermark.json``, written atomically, and
advanced only when the checks pass, so a bad partition is checked again on the next run.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lockgate.errors import LockgateError


@dataclass(frozen=True)
class Watermark:
    order_by: str
    key: str | float | None


@dataclass(frozen=True)
class WatermarkStore:
    path: Path

    @classmethod
    def for_stage(cls, state: Path, stage: str) -> WatermarkStore:
        return cls(state / "data-check" / (stage or "data-check") / "watermark.json")

    def load(self, order_by: str) -> Watermark:
        if not self.path.exists():
            return Watermark(order_by, None)
        try:
            raw = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise LockgateError(
                f"{self.path}: unreadable watermark ({exc}); delete it to re-check every partition"
            ) from None
        if raw.get("order_by") != order_by:
            return Watermark(order_by, None)
        return Watermark(order_by, raw.get("key"))

    def save(self, mark: Watermark, files: Sequence[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps(
            {"order_by": mark.order_by, "key": mark.key, "files": list(files)}, indent=2
        )
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".watermark.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(body + "\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def partition_key(file: Path, root: Path, order_by: str) -> str | float:
    if order_by == "mtime":
        return file.stat().st_mtime
    return file.relative_to(root).as_posix()


def new_partitions(
    files: Sequence[Path], root: Path, mark: Watermark
) -> tuple[list[Path], Watermark]:
    """The files past the watermark, and the watermark to record once they pass."""
    keyed = sorted(
        ((partition_key(f, root, mark.order_by), f) for f in files), key=lambda kf: kf[0]
    )
    fresh = [(k, f) for k, f in keyed if mark.key is None or k > mark.key]  # type: ignore[operator]
    latest = fresh[-1][0] if fresh else mark.key
    return [f for _, f in fresh], Watermark(mark.order_by, latest)
