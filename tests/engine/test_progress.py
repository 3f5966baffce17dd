"""Progress: an image build is its own step (not charged to the first stage), and on a terminal
the run shows a live list of steps with timers. Real Docker engine for the build, the real CLI
under a real pseudo-terminal for the live view."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
import uuid

import pytest

from tests.projects import REPO_ROOT, last_record, lockgate, write_project

SPEC = """\
version: 1
name: built
image: {dockerfile: Dockerfile}
stages:
  first: {run: [sh, -c, 'echo one > "$LOCKGATE_OUT/o.txt"']}
"""


@pytest.mark.docker
def test_an_image_build_is_its_own_step(tmp_path, base_image):
    token = uuid.uuid4().hex  # a recipe no earlier run built
    dockerfile = f"FROM {base_image}\nRUN sleep 2 && echo {token} > /token\n"
    root = write_project(tmp_path / "p", SPEC, {"Dockerfile": dockerfile})
    result = lockgate("run", "--executor", "docker", "--json", cwd=root)
    assert result.code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["kind"] for e in events if e["kind"] != "image-output"]
    assert kinds[:4] == ["run-started", "image-started", "image-finished", "stage-started"]
    finished = next(e for e in events if e["kind"] == "image-finished")
    assert finished["data"]["built"] is True and finished["data"]["duration"] >= 2
    assert any(e["kind"] == "image-output" for e in events)
    stage = last_record(root)["stages"][0]
    assert stage["state"] == "ok"
    assert stage["duration"] < finished["data"]["duration"]  # the build is not the stage's time
    again = lockgate("run", "--executor", "docker", "--no-cache", "--json", cwd=root)
    ready = [json.loads(x) for x in again.stdout.splitlines() if '"image-finished"' in x]
    assert ready and ready[0]["data"]["built"] is False


def test_a_terminal_gets_a_live_list_with_timers(tmp_path):
    root = write_project(
        tmp_path / "p",
        SPEC.replace(
            "image: {dockerfile: Dockerfile}", "image: {base: lockgate/debian:bookworm}"
        ).replace(
            "stages:\n",
            "stages:\n  slow: {run: [sh, -c, 'sleep 1; echo done > \"$LOCKGATE_OUT/s\"']}\n",
        ),
    )
    main, child = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TERM": "xterm", "COLUMNS": "100"}
    for name in ("CI", "NO_COLOR"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "run", "--executor", "local"],
        cwd=root,
        env=env,
        stdin=child,
        stdout=child,
        stderr=child,
        close_fds=True,
    )
    os.close(child)
    screen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(main)
    text = screen.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "\x1b[" in text  # drawn for a terminal, redrawn in place
    assert "running" in text  # the live list showed the stage while it ran ...
    final = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text.rsplit("succeeded in", 1)[1])
    rows = {line.split()[1]: line.split() for line in final.splitlines() if len(line.split()) >= 4}
    assert rows["slow"][2] == "ok" and rows["first"][2] == "ok", final  # ... and stays at the end
    assert re.fullmatch(r"\d+\.\ds", rows["slow"][3]) and float(rows["slow"][3][:-1]) >= 1.0
