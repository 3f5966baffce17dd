"""Example specs run through the real CLI: every bad one gives its one expected line and exit 2,
never a traceback; every good one validates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lockgate.__main__ import main

EXAMPLES = Path(__file__).parent / "examples"
BAD = sorted(EXAMPLES.glob("bad/*.yaml"))
GOOD = sorted(EXAMPLES.glob("good/*.yaml"))


def _validate(spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(spec, project / "lockgate.yaml")
    monkeypatch.chdir(project)
    return main(["validate"])


@pytest.mark.parametrize("spec", BAD, ids=[p.stem for p in BAD])
def test_bad_spec_gives_its_expected_message(spec, tmp_path, monkeypatch, capsys):
    code = _validate(spec, tmp_path, monkeypatch)
    out, err = capsys.readouterr()
    expected = spec.with_suffix(".expected").read_text().strip()
    assert code == 2
    assert err.strip() == f"lockgate: error: {expected}"
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize("spec", GOOD, ids=[p.stem for p in GOOD])
def test_good_spec_validates(spec, tmp_path, monkeypatch, capsys):
    code = _validate(spec, tmp_path, monkeypatch)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("ok: lockgate.yaml")


def test_every_bad_example_has_an_expectation():
    assert BAD, "no bad examples found"
    assert all(p.with_suffix(".expected").is_file() for p in BAD)
