from __future__ import annotations

import io

from lockgate.engine.events import Event, LineReporter


def _lines(fold: bool, events: list[Event]) -> list[str]:
    stream = io.StringIO()
    reporter = LineReporter(stream, color=False, fold=fold)
    for event in events:
        reporter.emit(event)
    return stream.getvalue().splitlines()


EVENTS = [
    Event("stage-started", "train", {"attempt": 1}),
    Event("stage-output", "train", {"line": "epoch 1"}),
    Event("stage-started", "train", {"attempt": 2}),
    Event("stage-finished", "train", {"state": "ok", "duration": 1.5}),
    Event("stage-skipped", "deploy", {"state": "skipped", "reason": "upstream failed"}),
]


def test_each_stage_folds_into_one_group_under_actions_with_its_outcome_outside() -> None:
    lines = _lines(True, EVENTS)
    assert lines == [
        "::group::▶ train",
        "train │ epoch 1",
        "▶ train (attempt 2)",  # a retry stays inside the same group
        "::endgroup::",
        "✔ train ok 1.50s",
        "- deploy skipped — upstream failed",  # never started: no group to close
    ]


def test_no_group_markers_outside_actions(monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    stream = io.StringIO()
    reporter = LineReporter(stream, color=False)
    for event in EVENTS:
        reporter.emit(event)
    assert "::" not in stream.getvalue()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert LineReporter(io.StringIO(), color=False).fold
