"""Stage logs with encryption on, through the real CLI and the local executor: what a stage
prints is sealed into ``log.txt.sealed`` as it is written (no plaintext log, ever; a real
SIGKILL of lockgate mid-run leaves no marker line anywhere on disk), ``lockgate log`` prints it
back (and says when it was cut short), and a tampered or moved log is one clear line. Without
encryption the log stays plain and ``lockgate log`` prints it as it is."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from lockgate.engine.sealed_log import SEALED_LOG, read_log
from lockgate.engine.sealing import Sealer, SealError
from tests.projects import REPO_ROOT, last_record, lockgate, write_project

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
    assert "not sealed" not in shown.stderr
    missing = lockgate("log", "nosuch", cwd=root)
    assert missing.code != 0 and "no stage 'nosuch' in this run" in missing.stderr


def test_a_plain_log_in_place_of_a_sealed_one_is_shown_with_a_warning(tmp_path: Path) -> None:
    """A plain log is what runs from before encryption was set left, so it is still shown; but
    a run with encryption never writes one, so one found there is said to be unvouched for."""
    root = _project(tmp_path, sealed=True)
    stage_dir = _stage_dir(root)
    (stage_dir / SEALED_LOG).unlink()
    (stage_dir / "log.txt").write_text("all rows passed\n")
    shown = lockgate("log", "show", cwd=root)
    assert shown.code == 0 and shown.stdout == "all rows passed\n"
    assert (
        f"lockgate: {stage_dir.resolve() / 'log.txt'}: not sealed, though lockgate.yaml sets "
        "`encryption:`"
    ) in shown.stderr.replace(str(stage_dir), str(stage_dir.resolve()))
    assert "nothing vouches for what it says" in shown.stderr


def test_a_log_is_bound_to_its_run_and_stage(tmp_path: Path) -> None:
    root = _project(tmp_path, sealed=True)
    stage_dir = _stage_dir(root)
    sealer = Sealer.from_key(bytes.fromhex(KEY))
    assert ROW.encode() in read_log(sealer, stage_dir).text
    moved = stage_dir.parent.with_name("20000101T000000000Z-other") / "show"
    moved.mkdir(parents=True)
    shutil.copy(stage_dir / SEALED_LOG, moved)
    with pytest.raises(SealError, match="authentication failed"):
        read_log(sealer, moved)
    with pytest.raises(SealError, match="sets no `encryption:`"):
        read_log(None, stage_dir)


def _files_holding(marker: bytes, *folders: Path, since: float = 0.0) -> list[Path]:
    """Every regular file under ``folders`` (changed at or after ``since``) holding ``marker``."""
    found = []
    for folder in folders:
        for dirpath, _, names in os.walk(folder):
            for name in names:
                path = Path(dirpath, name)
                try:
                    if path.is_symlink() or path.stat().st_mtime < since:
                        continue
                    if marker in path.read_bytes():
                        found.append(path)
                except OSError:  # gone meanwhile, or not readable: not written by this run
                    continue
    return found


def test_a_sigkilled_run_leaves_its_lines_sealed_and_readable(tmp_path: Path) -> None:
    """A real SIGKILL of the lockgate process while its stage is running: the line the stage
    printed is in no file of the project, the temporary folders or /dev/shm, and ``lockgate
    log`` prints it from the sealed log, which says it was cut short."""
    # the marker is computed by the stage, so lockgate.yaml does not hold it
    run = (
        'echo "row-$((6*7))-MARKER-sealed-log-line"; echo "out-$((6*7))-row" > "$LOCKGATE_OUT/r"; '
        'echo "cache-$((6*7))-row" > "$LOCKGATE_CACHE_DL/r"; echo $$ > "$LOCKGATE_OUT/../stage.pid"; '
        "sleep 60"
    )
    spec = SPEC.format(encryption="encryption: {key: data-key}\n").replace(
        "run: [sh, -c, 'cat data/rows.csv; echo done > \"$LOCKGATE_OUT/n.txt\"']",
        f"run: [sh, -c, '{run}']\n    caches: {{dl: /cache/dl}}",
    )
    root = write_project(tmp_path / "p", spec, {"data/rows.csv": "a\n", "keys/data.key": KEY})
    marker = b"row-42-MARKER-sealed-log-line"
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    started = time.time()
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "PYTHONPATH": str(REPO_ROOT),
        "TMPDIR": str(private_tmp),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "run", "--executor", "local"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stage_pid = None
    try:
        runs = root / ".lockgate" / "runs"
        deadline = time.monotonic() + 60
        stage_dir = None
        while time.monotonic() < deadline:
            found = list(runs.glob("*/show/stage.pid")) if runs.is_dir() else []
            if found and found[0].read_text().strip():
                stage_dir = found[0].parent
                stage_pid = int(found[0].read_text())
                log = read_log(Sealer.from_key(bytes.fromhex(KEY)), stage_dir)
                if marker in log.text:  # the line is flushed: readable while the run goes
                    assert not log.complete
                    break
            time.sleep(0.05)
        else:
            pytest.fail("the stage's line never reached its sealed log")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if stage_pid is not None:  # the stage has its own process group: it outlives lockgate
            with contextlib.suppress(ProcessLookupError):
                os.killpg(stage_pid, signal.SIGKILL)
    assert stage_dir is not None and not (stage_dir / "log.txt").exists()
    temp = Path(tempfile.gettempdir())
    assert _files_holding(marker, root, private_tmp) == []
    assert _files_holding(marker, temp, Path("/dev/shm"), since=started) == []
    shown = lockgate("log", "show", cwd=root)
    assert shown.code == 0, shown.stderr
    assert marker.decode() in shown.stdout
    assert f"{stage_dir / SEALED_LOG}: cut short after 1 line:" in shown.stderr
    followed = lockgate("log", "show", "--follow", cwd=root, timeout=30)  # the run is dead: ends
    assert followed.code == 0 and followed.stdout == shown.stdout
    assert "cut short after 1 line:" in followed.stderr

    # what the stage wrote to its outputs and its cache folder was plaintext while it ran; the
    # next run with encryption finds the killed run (no record, its lock free) and removes it
    left = {b"out-42-row", b"cache-42-row"}
    assert {m for m in left if _files_holding(m, root)} == left
    (root / "lockgate.yaml").write_text(SPEC.format(encryption="encryption: {key: data-key}\n"))
    assert lockgate("run", "--executor", "local", cwd=root).code == 0
    assert [m for m in left if _files_holding(m, root)] == []
    assert (
        marker.decode() in lockgate("log", "show", "--run", str(stage_dir.parent), cwd=root).stdout
    )


def test_log_follow_prints_a_sealed_log_as_it_grows_until_it_is_closed(tmp_path: Path) -> None:
    run = 'for i in 1 2 3; do echo "line $i"; sleep 0.7; done; echo done > "$LOCKGATE_OUT/n.txt"'
    spec = SPEC.format(encryption="encryption: {key: data-key}\n").replace(
        "run: [sh, -c, 'cat data/rows.csv; echo done > \"$LOCKGATE_OUT/n.txt\"']",
        f"run: [sh, -c, '{run}']",
    )
    root = write_project(tmp_path / "p", spec, {"data/rows.csv": "a\n", "keys/data.key": KEY})
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "PYTHONPATH": str(REPO_ROOT),
    }
    lockgate_cmd = [sys.executable, "-m", "lockgate"]
    running = subprocess.Popen(
        [*lockgate_cmd, "run", "--executor", "local"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        runs = root / ".lockgate" / "runs"
        deadline = time.monotonic() + 60
        while not (runs.is_dir() and any(runs.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.05)
        follow = subprocess.run(
            [*lockgate_cmd, "log", "show", "--follow"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        running.wait(timeout=120)
    assert running.returncode == 0
    assert follow.returncode == 0, follow.stderr
    assert follow.stdout.splitlines() == ["line 1", "line 2", "line 3"]
    assert "cut short" not in follow.stderr
