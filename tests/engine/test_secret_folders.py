"""Secret folders of a process killed outright are removed when the next stage makes its own.

Real processes, a real SIGKILL and real ``flock``: a child makes a folder holding a secret and
waits; killed, its folder stays until a new :class:`SecretFiles` is made; a child still alive
keeps its folder through the same sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from lockgate.engine.secrets import PREFIX, SecretFiles, sweep_secret_folders

CHILD = """
import sys, time
from lockgate.engine.secrets import SecretFiles
files = SecretFiles({"token": "s3cret-value"})
print(files.path, flush=True)
time.sleep(600)
"""


def _child_folder() -> tuple[subprocess.Popen[str], Path]:
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    secrets = Path(child.stdout.readline().strip())
    assert (secrets / "token").read_text() == "s3cret-value"
    return child, secrets.parent


def test_a_killed_process_s_secrets_go_when_the_next_folder_is_made() -> None:
    dead, dead_folder = _child_folder()
    alive, alive_folder = _child_folder()
    try:
        dead.send_signal(signal.SIGKILL)
        dead.communicate()
        assert dead_folder.is_dir(), "SIGKILL leaves the folder: nothing in the process ran"
        with SecretFiles({"other": "x-value"}) as mine:
            assert sorted(p.name for p in mine.iterdir()) == ["other"]
            assert not dead_folder.exists()
            assert (alive_folder / "secrets" / "token").is_file(), "a live process keeps its own"
            assert mine.parent.name.startswith(PREFIX)
        assert not mine.parent.exists()
    finally:
        alive.kill()
        alive.communicate()
    assert alive_folder in sweep_secret_folders(alive_folder.parent)


def test_a_folder_without_its_lock_file_or_of_another_shape_is_left_alone(tmp_path: Path) -> None:
    foreign = tmp_path / f"{PREFIX}made-elsewhere"
    foreign.mkdir()
    (foreign / "file").write_text("x")
    link = tmp_path / f"{PREFIX}link"
    link.symlink_to(foreign)
    assert sweep_secret_folders(tmp_path) == []
    assert (foreign / "file").is_file() and link.is_symlink()


def test_a_stage_sees_only_its_secrets() -> None:
    with SecretFiles({"a": "value-a", "b": "value-b"}) as folder:
        assert sorted(p.name for p in folder.iterdir()) == ["a", "b"]
        assert oct(folder.stat().st_mode & 0o777) == "0o700"
        assert oct(os.stat(folder.parent).st_mode & 0o777) == "0o700"
