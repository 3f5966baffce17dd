"""A data-check stage process ends without the interpreter's teardown (``os._exit`` after its
output is flushed): what it prints and writes must all be there, with the stage's exit code,
and the in-process entry point (what tests and embedding programs call) must still return."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lockgate.stages.context import StageContext

pl = pytest.importorskip("polars")

WITH = {
    "data": "data.parquet",
    "rows": {"min": 1},
    "columns": {f"c{i}": {"min": 0, "max": 1} for i in range(40)},
}


def _contract(root: Path) -> dict[str, str]:
    for name in ("in", "out", "state", "secrets"):
        (root / name).mkdir(exist_ok=True)
    ctx = StageContext(
        root,
        root / "in",
        root / "out",
        root / "secrets",
        root / "state",
        "r",
        "data-check",
        "",
        WITH,
    )
    return ctx.env()


def _data(root: Path, value: float) -> None:
    pl.DataFrame({f"c{i}": [value] * 1000 for i in range(40)}).write_parquet(root / "data.parquet")


@pytest.mark.parametrize(("value", "code"), [(0.5, 0), (7.0, 1)])
def test_the_stage_process_exits_with_its_code_and_everything_it_wrote(
    tmp_path: Path, value: float, code: int
) -> None:
    _data(tmp_path, value)
    env = {**os.environ, **_contract(tmp_path)}
    env.pop("PYTHONUNBUFFERED", None)  # stdout to a pipe is block-buffered: the exit flushes it
    done = subprocess.run(
        [sys.executable, "-m", "lockgate", "stage", "data-check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == code, done.stderr
    report = json.loads((tmp_path / "out" / "data-check.json").read_text())
    assert report["passed"] is (code == 0)
    assert (tmp_path / "out" / "report.md").read_text().strip()
    json.loads((tmp_path / "out" / "metrics.json").read_text())
    failed = [line for line in done.stderr.splitlines() if "c" in line and "max" in line]
    assert len(failed) == (40 if code else 0), done.stderr  # every failure line, none cut off


def test_the_in_process_entry_point_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``main`` returns the code (only ``entry``, the process's own start, ends the process)."""
    from lockgate.__main__ import main

    _data(tmp_path, 7.0)
    for name, value in _contract(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    assert main(["stage", "data-check"]) == 1
    assert json.loads((tmp_path / "out" / "data-check.json").read_text())["passed"] is False


def test_a_context_reads_back_from_the_variables_it_gives(tmp_path: Path) -> None:
    ctx = StageContext(
        tmp_path,
        tmp_path / "in",
        tmp_path / "out",
        tmp_path / "s",
        tmp_path / "st",
        "r",
        "x",
        "abc",
        WITH,
    )
    assert StageContext.from_env(ctx.env()) == ctx
