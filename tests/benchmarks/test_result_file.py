"""A result file's command says how the run was started, never where this machine keeps
things."""

from __future__ import annotations

from pathlib import Path

from benchmarks.result_file import RESULTS, command

SCRIPT = str(RESULTS.parent / "train" / "startup.py")


def test_absolute_paths_in_the_command_become_what_they_stand_for() -> None:
    argv = [SCRIPT, "--rows", "8192", "--baseline", "/srv/x/earlier", "--out=/tmp/o", "/data/f"]
    assert command(argv) == (
        "python -m benchmarks.train.startup --rows 8192 --baseline CHECKOUT --out=PATH PATH"
    )
    assert command([SCRIPT, "--baseline=/srv/x"]).endswith("--baseline=CHECKOUT")
    assert command([str(Path(SCRIPT).with_name("overhead.py")), "--rounds", "5"]) == (
        "python -m benchmarks.train.overhead --rounds 5"
    )
