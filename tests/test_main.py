"""Where a bug's traceback goes. Inside a stage (in a container) a crash file under /tmp would
vanish with the container, so the traceback goes to the stage's output, which the runner keeps
on the host; outside a stage it goes to a crash file the message names. User code that raises
in a train entrypoint is reported as the user's error (exit 2), not as a bug in lockgate."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.projects import REPO_ROOT, last_record, lockgate, write_project

CRASH = "from lockgate.__main__ import report_bug\ntry:\n    1 / 0\nexcept Exception as e:\n    report_bug(e)\n"


def _crash(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CRASH],
        env={"PYTHONPATH": str(REPO_ROOT), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stderr


def test_inside_a_stage_the_traceback_goes_to_the_stage_output(tmp_path):
    err = _crash({"LOCKGATE_STAGE": "train", "LOCKGATE_OUT": str(tmp_path)})
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError" in err
    assert err.rstrip().endswith("the traceback is above, in this stage's log")
    assert "lockgate-crash-" not in err


def test_outside_a_stage_the_traceback_goes_to_a_named_file(tmp_path):
    err = _crash({"TMPDIR": str(tmp_path)})
    found = re.search(r"the traceback is in (\S+)$", err.strip())
    assert found, err
    assert "ZeroDivisionError" in Path(found.group(1)).read_text()
    assert "Traceback" not in err


def test_a_raising_train_entrypoint_is_the_users_error_with_its_traceback_in_the_log(tmp_path):
    spec = """\
    version: 1
    name: crash
    image: {base: lockgate/debian:bookworm}
    stages:
      train:
        uses: lockgate/train
        with: {entrypoint: "model:build", tracking: "off", data: {train: train.csv, target: y}}
        inputs: ["model.py", "train.csv"]
    """
    model = "def build(ctx):\n    raise RuntimeError('broken model code')\n"
    root = write_project(
        tmp_path / "p", textwrap.dedent(spec), {"model.py": model, "train.csv": "a,y\n1,0\n2,1\n"}
    )
    result = lockgate("run", "--executor", "local", cwd=root)
    assert result.code == 1
    stage = last_record(root)["stages"][0]
    assert stage["state"] == "failed" and stage["exit_code"] == 2
    log = Path(stage["log"]).read_text()
    assert 'model.py", line 2, in build' in log
    assert (
        "with.entrypoint 'model:build': the build function raised RuntimeError: broken model code"
        in log
    )
    assert "bug in lockgate" not in log


def test_main_puts_back_the_callers_sigterm_handler(tmp_path, capsys):
    """While a command runs, SIGTERM stops it like Ctrl-C; a program that calls main() gets its
    own handler back afterwards, whatever the outcome (a forked worker of that program would
    otherwise run lockgate's handler)."""
    import signal

    import pytest

    from lockgate.__main__ import main

    def own(signum, frame):
        return None

    before = signal.signal(signal.SIGTERM, own)
    try:
        assert main(["validate", "--spec", str(tmp_path / "missing.yaml")]) != 0  # an error
        assert signal.getsignal(signal.SIGTERM) is own
        with pytest.raises(SystemExit):  # argparse's own exit, after printing the version
            main(["--version"])
        assert signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, before)
    captured = capsys.readouterr()
    assert "missing.yaml" in captured.err and "lockgate" in captured.out
