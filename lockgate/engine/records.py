"""Outcomes as data, and the run record they are written to (``.lockgate/runs/<id>/run.json``)."""

from __future__ import annotations

import json
import os
import secrets as _random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lockgate.engine.secrets import Masker


@dataclass(frozen=True)
class StageResult:
    name: str
    state: str  # ok | cached | failed | skipped | interrupted
    cache_key: str = ""
    exit_code: int | None = None
    duration: float = 0.0
    outputs_digest: str = ""
    out: str = ""
    image: str = ""
    image_id: str = ""
    attempts: int = 0
    reason: str = ""
    log: str = ""
    argv: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.state in {"ok", "cached"}


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    pipeline: str
    spec_digest: str
    executor: str
    git_sha: str
    started: float
    finished: float
    stages: tuple[StageResult, ...]
    path: str = ""

    @property
    def state(self) -> str:
        states = {r.state for r in self.stages}
        if "interrupted" in states:
            return "interrupted"
        return "failed" if states & {"failed", "skipped"} else "succeeded"

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.stages:
            out[r.state] = out.get(r.state, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state
        data.pop("path")
        return data


def new_run_id() -> str:
    """Sortable by start time (to the millisecond), unique by a random suffix."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1000):03d}Z"
    return f"{stamp}-{_random.token_hex(3)}"


def write_record(record: RunRecord, path: Path, masker: Masker) -> None:
    """Atomically write the record; every string passes the masker on the way out."""
    text = json.dumps(record.to_json(), indent=2, sort_keys=True)
    text = "\n".join(masker(line) for line in text.splitlines()) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_record(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data
