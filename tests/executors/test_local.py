"""The local executor's process handling, with real child processes: it returns as the stage
exits (not on its next poll), and still stops a stage on its timeout or on a cancel."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from lockgate.engine.stagespec import ImageRecipe, StagePaths, StageSpec
from lockgate.executors.local import LocalExecutor


def _run(
    tmp_path: Path, code: str, *, timeout: int | None = None, cancel: threading.Event | None = None
) -> tuple[object, float, list[str]]:
    for name in ("out", "secrets", "state"):
        (tmp_path / name).mkdir(exist_ok=True)
    spec = StageSpec(
        name="step",
        image=ImageRecipe(digest="sha256:0", tag="t", install_lockgate=False),
        argv=(sys.executable, "-c", code),
        timeout=timeout,
    )
    paths = StagePaths(
        tmp_path, {}, tmp_path / "out", tmp_path / "secrets", tmp_path / "state", in_dir=tmp_path
    )
    start = time.monotonic()
    outcome, lines = _execute(spec, paths, cancel)
    return outcome, time.monotonic() - start, lines


def _execute(
    spec: StageSpec, paths: StagePaths, cancel: threading.Event | None = None
) -> tuple[object, list[str]]:
    lines: list[str] = []
    outcome = LocalExecutor().run(
        spec,
        paths,
        run_id="r",
        git_sha="",
        secrets={},
        output=lines.append,
        cancel=cancel or threading.Event(),
    )
    return outcome, lines


def test_exit_code_and_output_come_back(tmp_path: Path) -> None:
    outcome, _, lines = _run(tmp_path, "print('hello'); raise SystemExit(3)")
    assert outcome.exit_code == 3  # type: ignore[attr-defined]
    assert not outcome.timed_out and not outcome.interrupted  # type: ignore[attr-defined]
    assert lines == ["hello"]


def test_a_stage_past_its_timeout_is_stopped(tmp_path: Path) -> None:
    outcome, seconds, _ = _run(tmp_path, "import time; time.sleep(60)", timeout=1)
    assert outcome.timed_out  # type: ignore[attr-defined]
    assert outcome.exit_code != 0  # type: ignore[attr-defined]
    assert seconds < 30


def test_a_cancel_stops_the_stage(tmp_path: Path) -> None:
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    outcome, seconds, _ = _run(tmp_path, "import time; time.sleep(60)", cancel=cancel)
    assert outcome.interrupted  # type: ignore[attr-defined]
    assert seconds < 30


def test_the_digests_of_inputs_read_in_place_reach_the_stage(tmp_path: Path) -> None:
    """What the engine checked a sealed input against travels in LOCKGATE_IN_DIGESTS, so the
    stage can refuse a folder swapped after that check; a stage given none sees no variable."""
    import json
    from dataclasses import replace

    from lockgate.engine.stagespec import contract_env

    spec = StageSpec(
        name="step",
        image=ImageRecipe(digest="sha256:0", tag="t", install_lockgate=False),
        argv=(sys.executable, "-c", "import os; print(os.environ.get('LOCKGATE_IN_DIGESTS'))"),
    )
    for name in ("out", "secrets", "state"):
        (tmp_path / name).mkdir()
    plain = StagePaths(tmp_path, {}, tmp_path / "out", tmp_path / "secrets", tmp_path / "state")
    paths = replace(plain, in_digests={"prep": "sha256:ab", "data": "sha256:cd"})
    _, lines = _execute(spec, paths)
    assert json.loads(lines[0]) == {"data": "sha256:cd", "prep": "sha256:ab"}
    assert "LOCKGATE_IN_DIGESTS" not in contract_env(
        spec, run_id="r", git_sha="", paths=plain, in_container=True
    )
