from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from lockgate.commands import report
from lockgate.errors import LockgateError


def make_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    for stage, text in (
        ("train", "## Training\n\n![curve](training-curve.png)\n"),
        ("evaluate", "## Evaluation\n"),
    ):
        (run / stage / "out").mkdir(parents=True)
        (run / stage / "out" / "report.md").write_text(text)
    return run


def test_cli_writes_file_and_job_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = make_run(tmp_path)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    out = tmp_path / "comment.md"
    args = parser.parse_args([str(run), "-o", str(out), "--github-summary"])
    assert report.run(args) == 0
    assert out.read_text().startswith("## lockgate run")
    assert "### evaluate" in out.read_text() and "### train" in out.read_text()
    assert summary.read_text().startswith("earlier step\n## lockgate run")
    with pytest.raises(LockgateError, match="nope: no such run folder"):
        report.run(parser.parse_args([str(tmp_path / "nope")]))
