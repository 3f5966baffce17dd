"""The rollout record of one environment, ``.lockgate/state/delivery/<env>.json``.

Written atomically (temporary file, fsync, ``os.replace``) *before* the action it describes, so a
process killed at any point leaves a record from which a rerun can converge: it makes the
containers and the routing match the record. A per-environment ``flock`` keeps two lockgate
processes from driving one environment at once; the kernel drops it when a process dies.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from lockgate.delivery.rollout.targets.base import Version
from lockgate.errors import LockgateError

Phase = Literal["idle", "progressing", "paused", "aborted", "completed"]


class EnvironmentBusy(LockgateError):
    """Another lockgate process is driving this environment."""


@dataclass(frozen=True)
class RolloutState:
    env: str
    phase: Phase = "idle"
    strategy: str = "canary"
    stable: Version | None = None
    canary: Version | None = None
    weight: int = 0  # percent of traffic on the canary
    step: int = 0  # index of the step being worked on
    failures: int = 0
    reason: str = ""
    measurements: tuple[dict[str, Any], ...] = ()
    previous: Version | None = None  # the stable before the current one, for rollbacks
    warm: Version | None = None  # a blue-green predecessor kept running
    warm_until: float = 0.0
    reference: dict[str, float] = field(default_factory=dict)  # stable's prediction mix
    next_revision: int = 1
    updated_at: float = 0.0

    def evolve(self, **changes: Any) -> RolloutState:
        return replace(self, **changes)

    def weights(self) -> dict[Version, int]:
        """Routing that this record asks for."""
        routed: dict[Version, int] = {}
        live_canary = self.canary is not None and self.phase in ("progressing", "paused")
        if self.stable is not None:
            routed[self.stable] = 100 - (self.weight if live_canary else 0)
        if live_canary and self.canary is not None:
            routed[self.canary] = self.weight
        return {v: w for v, w in routed.items() if w > 0}

    def running_versions(self) -> list[Version]:
        """Versions that must be running for this record to hold."""
        keep = [v for v in (self.stable,) if v is not None]
        if self.canary is not None and self.phase in ("progressing", "paused"):
            keep.append(self.canary)
        if self.warm is not None and self.warm_until > time.time():
            keep.append(self.warm)
        return keep

    def as_record(self) -> dict[str, Any]:
        def v(x: Version | None) -> dict[str, Any] | None:
            return x.as_record() if x else None

        return {
            "env": self.env,
            "phase": self.phase,
            "strategy": self.strategy,
            "stable": v(self.stable),
            "canary": v(self.canary),
            "weight": self.weight,
            "step": self.step,
            "failures": self.failures,
            "reason": self.reason,
            "measurements": list(self.measurements),
            "previous": v(self.previous),
            "warm": v(self.warm),
            "warm_until": self.warm_until,
            "reference": self.reference,
            "next_revision": self.next_revision,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> RolloutState:
        def v(x: Any) -> Version | None:
            return Version.from_record(x) if x else None

        return cls(
            env=record["env"],
            phase=record.get("phase", "idle"),
            strategy=record.get("strategy", "canary"),
            stable=v(record.get("stable")),
            canary=v(record.get("canary")),
            weight=int(record.get("weight", 0)),
            step=int(record.get("step", 0)),
            failures=int(record.get("failures", 0)),
            reason=record.get("reason", ""),
            measurements=tuple(record.get("measurements") or ()),
            previous=v(record.get("previous")),
            warm=v(record.get("warm")),
            warm_until=float(record.get("warm_until", 0.0)),
            reference=dict(record.get("reference") or {}),
            next_revision=int(record.get("next_revision", 1)),
            updated_at=float(record.get("updated_at", 0.0)),
        )


class StateStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, env: str) -> Path:
        return self.folder / f"{env}.json"

    def load(self, env: str) -> RolloutState:
        path = self.path(env)
        if not path.exists():
            return RolloutState(env=env)
        return RolloutState.from_record(json.loads(path.read_text()))

    def save(self, state: RolloutState) -> RolloutState:
        state = state.evolve(updated_at=time.time())
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(state.env)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("w") as handle:
            json.dump(state.as_record(), handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return state

    @contextmanager
    def locked(self, env: str) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / f"{env}.lock").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise EnvironmentBusy(
                    f"environment {env!r} is being rolled out by another lockgate process; "
                    "wait for it or stop it, then rerun"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
