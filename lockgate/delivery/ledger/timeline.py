"""What ran in an environment at a given time, answered from the ledger (an MLflow alias has no
history; the ledger does).

Entry times never decrease, so a query needs only the entries up to ``T``. To avoid reading a
long ledger from the start, ``ledger.index`` keeps a checkpoint every :data:`EVERY` entries: the
byte offset after that entry, its hash and time, and what each environment ran at that point.
The index is derived data: it is rebuilt when missing or when its last checkpoint no longer
matches the ledger's bytes, and it is extended incrementally as the ledger grows.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.delivery.ledger.entry import Entry, LineError, read_line
from lockgate.delivery.ledger.ledger import LEDGER_FILE, LedgerError, read_head, write_atomic
from lockgate.delivery.ledger.releases import DEPLOYS

INDEX_FILE = "ledger.index"
EVERY = 1000
State = dict[str, dict[str, Any]]  # env -> the release it runs


def apply(state: State, e: Entry) -> None:
    if e.environment is None or e.digest is None:
        return
    if e.action in DEPLOYS:
        state[e.environment] = {
            "seq": e.seq,
            "time": e.time,
            "digest": e.digest,
            "image": e.image,
            "model": e.model,
            "action": e.action,
            "healthy": None,
            "actor": e.actor,
        }
    elif e.action in ("healthy", "unhealthy"):
        now = state.get(e.environment)
        if now is not None and now["digest"] == e.digest:
            now["healthy"] = e.action == "healthy"


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    start: int  # where the checkpoint's entry begins
    offset: int  # just after it
    hash: str
    time: str
    state: State


class Timeline:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ledger = folder / LEDGER_FILE
        self.index = folder / INDEX_FILE

    def _load(self) -> list[Checkpoint]:
        try:
            rows = [json.loads(x) for x in self.index.read_text().splitlines() if x]
            points = [Checkpoint(**r) for r in rows]
        except (OSError, ValueError, TypeError):
            return []
        if points and not self._matches(points[-1]):
            return []
        return points

    def _matches(self, point: Checkpoint) -> bool:
        try:
            with open(self.ledger, "rb") as f:
                f.seek(point.start)
                line = f.read(point.offset - point.start)
            return read_line(line).hash == point.hash
        except (OSError, ValueError):
            return False

    def _read(self, line: bytes, offset: int) -> Entry:
        try:
            return read_line(line)
        except LineError as exc:
            raise LedgerError(
                f"{self.ledger}: the line at byte {offset} is not a well-formed entry ({exc}); "
                "run `lockgate audit verify`"
            ) from None

    def checkpoints(self) -> list[Checkpoint]:
        """The index, brought up to date with the ledger's committed entries."""
        head = read_head(self.folder)
        points = self._load()
        if head is None:
            return []
        start = points[-1].offset if points else 0
        if start >= head.size:
            return points
        state: State = json.loads(json.dumps(points[-1].state)) if points else {}
        added = False
        with open(self.ledger, "rb") as f:
            f.seek(start)
            data = f.read(head.size - start)
        offset = start
        for line in data.splitlines(keepends=True):
            e = self._read(line, offset)
            apply(state, e)
            if e.seq % EVERY == 0:
                snapshot = json.loads(json.dumps(state))
                points.append(
                    Checkpoint(e.seq, offset, offset + len(line), e.hash, e.time, snapshot)
                )
                added = True
            offset += len(line)
        if added:
            text = "".join(json.dumps(p.__dict__, sort_keys=True) + "\n" for p in points)
            # a read-only copy of the ledger: answer without saving the index
            with contextlib.suppress(OSError):
                write_atomic(self.index, text.encode())
        return points

    def state_at(self, at: str) -> tuple[State, int]:
        """What each environment ran at time ``at`` (entries with time <= at), and the seq of
        the last entry taken into account."""
        points = self.checkpoints()
        head = read_head(self.folder)
        if head is None:
            return {}, 0
        k = bisect.bisect_right([p.time for p in points], at)
        base = points[k - 1] if k else None
        state: State = json.loads(json.dumps(base.state)) if base else {}
        start, last = (base.offset, base.seq) if base else (0, 0)
        end = points[k].offset if k < len(points) else head.size
        with open(self.ledger, "rb") as f:
            f.seek(start)
            data = f.read(end - start)
        for line in data.splitlines(keepends=True):
            e = self._read(line, start)
            start += len(line)
            if e.time > at:
                break
            apply(state, e)
            last = e.seq
        return state, last


def release_in(entries: Sequence[Entry], env: str, at: str) -> tuple[dict[str, Any] | None, int]:
    """What ``env`` ran at time ``at``, from entries a read already checked (a gate's read: on
    a signed ledger every signature, and the witness), and the seq of the last entry taken into
    account. ``ledger.index`` is not consulted: it sits beside the ledger, unsigned, so whoever
    can write the ledger's folder could make it say anything."""
    state: State = {}
    last = 0
    for e in entries:
        if e.time > at:
            break
        apply(state, e)
        last = e.seq
    return state.get(env), last


def release_at(folder: Path, env: str, at: str) -> tuple[dict[str, Any] | None, int]:
    state, last = Timeline(folder).state_at(at)
    return state.get(env), last


def index_size(folder: Path) -> int:
    try:
        return os.path.getsize(folder / INDEX_FILE)
    except OSError:
        return 0
