"""A ledger with known content for the release page's tests and benchmark: real entries written
by ``FileLedger`` (hash chain and all), with a clock that moves one minute per entry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lockgate.delivery.ledger.entry import Draft
from lockgate.delivery.ledger.ledger import FileLedger
from lockgate.delivery.rollout.state import RolloutState, StateStore
from lockgate.delivery.rollout.targets.base import Version
from tests.delivery.gatekit import digest

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def minutes() -> Iterator[datetime]:
    moment = START
    while True:
        yield moment
        moment += timedelta(minutes=1)


def write_ledger(folder: Path, filler: int = 0) -> FileLedger:
    """staging and production each run a release; a third digest waits for approval in
    production. ``filler`` adds health marks to make the ledger long."""
    tick = minutes()
    ledger = FileLedger(folder, clock=lambda: next(tick))

    def add(action: str, actor: str, env: str, n: int, **details: object) -> None:
        ledger.append(
            Draft(
                action,
                actor,
                "github",
                env,
                digest(n),
                f"reg/model@{digest(n)}",
                f"models:/churn/{n}",
                None,
                details,
            )
        )

    add("approve", "lena", "staging", 1)
    add("begin", "ci", "staging", 1)
    add("promote", "ci", "staging", 1, begin=2)
    add("approve", "omar", "production", 1)
    add("begin", "ci", "production", 1)
    add("promote", "ci", "production", 1, begin=5)  # 09:05
    for _ in range(filler):
        add("healthy", "monitor", "staging", 1)
    add("approve", "lena", "production", 2)
    add("begin", "ci", "production", 2)  # waits for a second approver
    return ledger


def condition(text: str, observed: float | None, outcome: str) -> dict[str, object]:
    return {"condition": text, "observed": observed, "outcome": outcome}


def write_rollout(folder: Path, env: str = "production") -> RolloutState:
    """A canary paused after two analysed steps (the second step needed an extension)."""

    def window(step: int, weight: int, outcome: str, error: float | None) -> dict[str, object]:
        return {
            "step": step,
            "weight": weight,
            "outcome": outcome,
            "reason": outcome,
            "conditions": [
                condition("error_rate < 0.01", error, "inconclusive" if error is None else "pass"),
                condition("p95_ms < 200", 120.0, "pass"),
                condition("prediction_psi < 0.2", 0.05, "pass"),
            ],
        }

    state = RolloutState(
        env,
        "paused",
        stable=Version(1, "reg/model:1"),
        canary=Version(2, "reg/model:2"),
        weight=25,
        step=2,
        reason="paused after step 2 (25%)",
        measurements=(
            window(0, 10, "pass", 0.0),
            window(1, 25, "inconclusive", None),
            window(1, 25, "pass", 0.002),
        ),
    )
    return StateStore(folder).save(state)
