"""The heartbeat around long tool runs: a start line, beats while the work runs, and the total.
The work here waits for the first beat, so the test does not depend on the machine's speed."""

from __future__ import annotations

import threading

import pytest

from lockgate.supply.progress import heartbeat


def test_beats_while_the_work_runs_then_says_the_total() -> None:
    lines: list[str] = []
    beaten = threading.Event()

    def say(line: str) -> None:
        lines.append(line)
        if "still running" in line:
            beaten.set()

    with heartbeat("scan: trivy secret on reg/app@sha256:ab", every=0.01, say=say):
        assert beaten.wait(30)
    assert lines[0] == "scan: trivy secret on reg/app@sha256:ab ..."
    assert lines[1].startswith("scan: trivy secret on reg/app@sha256:ab: still running, ")
    assert lines[-1].startswith("scan: trivy secret on reg/app@sha256:ab: done in ")


def test_a_failure_is_reported_as_stopped_and_still_raised() -> None:
    lines: list[str] = []
    with pytest.raises(RuntimeError), heartbeat("push", every=60, say=lines.append):
        raise RuntimeError("registry went away")
    assert lines[0] == "push ..." and lines[-1].startswith("push: stopped after ")
    assert len(lines) == 2
