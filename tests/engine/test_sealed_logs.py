"""Stage logs at rest with encryption on, through the real CLI and the local executor: what a
stage printed is sealed into ``log.txt.sealed`` when the run ends (no plaintext log is left),
``lockgate log`` prints it back, and a tampered or moved log is one clear line. Without
encryption the log stays plain and ``lockgate log`` prints it as it is."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lockgate.engine.sealed_outputs import read_log, seal_log
from lockgate.engine.sealing import Sealer, SealError
from tests.projects import last_record, lockgate, write_project

KEY = "6c6f636b676174652d746573742d6b65792d3332627974657321212121212121"
ROW = "patient-7731,diagnosis=rare-condition"
SPEC = """\
version: 1
name: logs
image: {{base: lockgate/debian:bookworm}}
secrets:
  data-key: {{file: keys/data.key}}
{encryption}stages:
  show:
    run: [sh, -c, 'cat data/rows.csv; echo done > "$LOCKGATE_OUT/n.txt"']
    inputs: ["data/*.csv"]
"""


def _project(tmp_path: Path, sealed: bool) -> Path:
    encryption = "encryption: {key: data-key}\n" if sealed else ""
    root = write_project(
        tmp_path / "p",
        SPEC.format(encryption=encryption),
        {"data/rows.csv": f"{ROW}\n", "keys/data.key": KEY + "\n"},
    )
    done = lockgate("run", "--executor", "local", cwd=root)
    assert done.code == 0, done.stderr
    return root


def _stage_dir(root: Path) -> Path:
    return root / ".lockgate" / "runs" / last_record(root)["run_id"] / "show"


def test_a_sealed_runs_log_is_sealed_at_rest_and_prints_back(tmp_path: Path) -> None:
    root = _project(tmp_path, sealed=True)
    stage_dir = _stage_dir(root)
    assert not (stage_dir / "log.txt").exists()
    assert ROW.encode() not in (stage_dir / "log.txt.sealed").read_bytes()
    shown = lockgate("log", "show", cwd=root)
    assert shown.code == 0, shown.stderr
    assert ROW in shown.stdout

    body = bytearray((stage_dir / "log.txt.sealed").read_bytes())
    body[-1] ^= 1
    (stage_dir / "log.txt.sealed").write_bytes(bytes(body))
    broken = lockgate("log", "show", cwd=root)
    assert broken.code != 0 and "Traceback" not in broken.stderr
    assert "log.txt.sealed: authentication failed" in broken.stderr
    assert ROW not in broken.stdout


def test_a_plain_runs_log_stays_plain(tmp_path: Path) -> None:
    root = _project(tmp_path, sealed=False)
    stage_dir = _stage_dir(root)
    assert ROW in (stage_dir / "log.txt").read_text()
    assert not (stage_dir / "log.txt.sealed").exists()
    shown = lockgate("log", "show", cwd=root)
    assert shown.code == 0 and ROW in shown.stdout
    missing = lockgate("log", "nosuch", cwd=root)
    assert missing.code != 0 and "no stage 'nosuch' in this run" in missing.stderr


def test_a_log_is_bound_to_its_run_and_stage(tmp_path: Path) -> None:
    sealer = Sealer.from_key(bytes.fromhex(KEY))
    first = tmp_path / "runs" / "r1" / "train"
    first.mkdir(parents=True)
    (first / "log.txt").write_text("epoch 1\n")
    seal_log(sealer, first)
    (first / "log.txt").write_text("epoch 2\n")  # a later attempt in the same folder
    seal_log(sealer, first)
    assert read_log(sealer, first) == b"epoch 1\nepoch 2\n"
    moved = tmp_path / "runs" / "r2" / "train"
    moved.mkdir(parents=True)
    shutil.copy(first / "log.txt.sealed", moved)
    with pytest.raises(SealError, match="authentication failed"):
        read_log(sealer, moved)
    with pytest.raises(SealError, match="sets no `encryption:`"):
        read_log(None, first)
