"""``lockgate rollout status --watch`` and the rollout command's input errors, through the real
entry point. The rollout record is written here as another lockgate process would write it; no
container is started (status only reads the record). The watch's pause between polls is where
the test moves the record on, so every change is seen whatever the machine's load."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.__main__ import main
from lockgate.commands import rollout as rollout_command
from lockgate.delivery.rollout.state import RolloutState, StateStore
from lockgate.delivery.rollout.targets.base import Version

ENV = "staging"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateStore:
    (tmp_path / "delivery.yaml").write_text(f"environments:\n  {ENV}: {{}}\n")
    monkeypatch.chdir(tmp_path)
    return StateStore(tmp_path / ".lockgate" / "state" / "delivery")


def _records(final: str) -> Iterator[RolloutState]:
    """The record through two steps (each seen twice: an unchanged poll prints nothing), then
    ``final``, as a running rollout would write it."""
    stable, canary = Version(1, "img:1"), Version(2, "img:2")
    for weight in (25, 25, 50, 50):
        yield RolloutState(ENV, "progressing", stable=stable, canary=canary, weight=weight)
    yield RolloutState(ENV, final, stable=stable, canary=canary, reason=f"{final} for test")


@pytest.mark.parametrize(("final", "code"), [("completed", 0), ("aborted", 1), ("paused", 0)])
def test_watch_prints_each_change_until_the_rollout_settles(
    store: StateStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    final: str,
    code: int,
) -> None:
    store.save(RolloutState(ENV, "progressing", stable=Version(1, "img:1"), weight=10))
    records = _records(final)
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        store.save(next(records))

    monkeypatch.setattr(rollout_command, "pause", pause)
    got = main(["rollout", "status", ENV, "--watch", "--interval", "0.05", "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert got == code
    assert [(r["phase"], r["weight"]) for r in lines] == [
        ("progressing", 10),
        ("progressing", 25),
        ("progressing", 50),
        (final, 0),
    ]
    assert lines[-1]["reason"] == f"{final} for test"
    assert pauses == [0.05] * 5  # it stopped polling once the rollout settled


def test_status_without_watch_prints_once(
    store: StateStore, capsys: pytest.CaptureFixture[str]
) -> None:
    store.save(RolloutState(ENV, "paused", stable=Version(1, "img:1"), reason="waiting"))
    assert main(["rollout", "status", ENV]) == 0
    assert capsys.readouterr().out == f"{ENV}: paused; stable img:1; candidate - at 0%; waiting\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rollout", "retry", ENV], "has no aborted rollout to retry (idle)"),
        (["rollout", "promote", ENV, "--full"], "has no rollout to promote (idle)"),
        (["rollout", "abort", ENV, "--full"], "--full applies to `lockgate rollout promote`"),
        (["rollout", "status", ENV, "--watch", "--interval", "0"], "--interval 0.0"),
    ],
)
def test_bad_requests_are_one_message_and_exit_2(
    store: StateStore, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
