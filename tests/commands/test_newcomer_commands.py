"""The first commands a newcomer runs, with the flags they get wrong: one line that says what
exists and what to pass, exit 2, never a traceback; and help that says what each option does."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import pytest

from lockgate.__main__ import main
from lockgate.commands import COMMANDS
from tests.projects import write_project

SPEC = """\
    version: 1
    name: demo
    image: {base: lockgate/debian:bookworm}
    stages:
      prepare: {run: [python3, -c, "pass"], outputs: [rows.csv]}
      train: {run: [python3, -c, "pass"], needs: [prepare]}
"""


def _refusal(root: Path, monkeypatch, capsys, *argv: str) -> str:
    monkeypatch.chdir(root)
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    lines = [line for line in err.splitlines() if line.startswith("lockgate: error: ")]
    assert len(lines) == 1, err
    return lines[0].removeprefix("lockgate: error: ")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project", SPEC)


@pytest.mark.parametrize("command", ["run", "plan"])
@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ("zzz", "--stage zzz: no such stage in demo; its stages: prepare, train"),
        ("TRAIN", "--stage TRAIN: no such stage in demo; did you mean 'train'?"),
        ("", "--stage '': no such stage in demo; its stages: prepare, train"),
    ],
)
def test_an_unknown_stage_names_the_stages_there_are(
    project, monkeypatch, capsys, command, stage, message
):
    assert _refusal(project, monkeypatch, capsys, command, "--stage", stage) == message


@pytest.mark.parametrize("command", ["run", "plan"])
def test_only_without_a_stage_is_refused(project, monkeypatch, capsys, command):
    assert _refusal(project, monkeypatch, capsys, command, "--only") == (
        "--only needs at least one --stage NAME"
    )


def test_a_missing_upstream_dir_is_bad_input_not_a_failed_stage(project, monkeypatch, capsys):
    message = _refusal(
        project, monkeypatch, capsys, "run", "--stage", "train", "--only", "--upstream-dir", "art"
    )
    assert message == (
        "--upstream-dir art: no such folder, and the stages need the outputs of prepare; pass "
        "the folder that holds one sub-folder per upstream stage, or leave it out to take them "
        "from the cache"
    )
    assert not (project / ".lockgate" / "runs").exists()  # nothing ran, nothing recorded


def test_a_first_stage_runs_with_an_upstream_dir_that_is_not_there(project, monkeypatch, capsys):
    """The generated CI passes --upstream-dir to every job; a first stage's job downloads no
    artifact, so the folder is missing there, and the stage needs nothing from it."""
    spec = SPEC.replace(
        '"pass"], outputs',
        """'open(__import__("os").environ["LOCKGATE_OUT"]
          + "/rows.csv", "w").write("a")'], outputs""",
    )
    root = write_project(project.parent / "first", spec)
    monkeypatch.chdir(root)
    argv = ["run", "--stage", "prepare", "--only", "--executor", "local", "--upstream-dir", "in"]
    assert main(argv) == 0, capsys.readouterr().err


def test_an_export_dir_that_is_a_file_is_refused(project, monkeypatch, capsys):
    (project / "out").write_text("")
    assert _refusal(project, monkeypatch, capsys, "run", "--export-dir", "out") == (
        "--export-dir out: a file is there; pass a folder (it is created if missing)"
    )


def test_a_spec_that_is_a_symlink_loop_is_refused_by_every_command(tmp_path, monkeypatch, capsys):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    loop = "a: a symbolic link that leads back to itself (a loop); point it at the spec file"
    for command in ("validate", "plan", "run", "cache"):
        extra = ["prune"] if command == "cache" else []
        assert _refusal(tmp_path, monkeypatch, capsys, command, *extra, "--spec", "a") == loop


def test_log_of_an_unknown_stage_suggests_one(project, monkeypatch, capsys):
    assert _refusal(project, monkeypatch, capsys, "log", "trian") == (
        "no stage 'trian' in this run or in demo; did you mean 'train'?"
    )
    assert _refusal(project, monkeypatch, capsys, "log", "train", "--run", "nope") == (
        "--run nope: no such run folder"
    )


def _run_folder(project: Path, name: str, record: str) -> Path:
    run = project / ".lockgate" / "runs" / name
    (run / "prepare" / "out").mkdir(parents=True)
    (run / "run.json").write_text(record)
    return run


def test_report_writing_where_it_cannot_is_bad_input(project, monkeypatch, capsys):
    run = _run_folder(project, "r1", json.dumps({"started": "1", "stages": [{"name": "prepare"}]}))
    assert _refusal(project, monkeypatch, capsys, "report", str(run), "-o", "no/such/dir/r.md") == (
        "--output no/such/dir/r.md: cannot write: No such file or directory"
    )


def test_report_skips_a_run_record_it_cannot_read(project, monkeypatch, capsys):
    _run_folder(project, "r1", json.dumps({"started": "1", "stages": [{"name": "prepare"}]}))
    _run_folder(project, "r2", "{")  # a record cut short
    monkeypatch.chdir(project)
    assert main(["report"]) == 0
    out, err = capsys.readouterr()
    assert "### prepare" in out
    assert "r2/run.json: not a run record" in err and "Traceback" not in err


def test_report_takes_spec_like_the_other_commands(project, tmp_path, monkeypatch, capsys):
    _run_folder(project, "r1", json.dumps({"started": "1", "stages": [{"name": "prepare"}]}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["report", "--spec", str(project / "lockgate.yaml")]) == 0
    assert "### prepare" in capsys.readouterr().out


NEWCOMER_COMMANDS = ["validate", "plan", "schema", "run", "stage", "cache", "log", "report"]


@pytest.mark.parametrize("name", NEWCOMER_COMMANDS)
def test_every_option_says_what_it_does(name):
    parser = argparse.ArgumentParser(prog=f"lockgate {name}")
    importlib.import_module(f"lockgate.commands.{COMMANDS[name][0]}").add_arguments(parser)
    silent = [
        "/".join(action.option_strings) or action.dest
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert not silent, f"lockgate {name}: no help for {silent}"
    assert all(
        action.metavar is None or action.metavar.isupper() or action.metavar.startswith("{")
        for action in parser._actions
    )
    usage = parser.format_usage()
    assert "RUN_DIR" not in usage and "OUTPUT" not in usage and "STAGES" not in usage


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["valdiate"],
            "no command 'valdiate'; did you mean 'validate'? the commands: " + ", ".join(COMMANDS),
        ),
        (["frobnicate"], "no command 'frobnicate'; the commands: " + ", ".join(COMMANDS)),
        (
            ["validate", "lockgate.yaml"],
            "unrecognized arguments: lockgate.yaml; give the spec as --spec lockgate.yaml",
        ),
        (["validate", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_a_mistyped_command_or_a_spec_given_bare_says_what_to_type(
    tmp_path, monkeypatch, capsys, argv, message
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.splitlines()[-1].endswith(f"error: {message}"), err
