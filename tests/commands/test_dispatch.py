"""The command line as a user meets it: help, flags, errors, exit codes, start-up cost."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.projects import QUICKSTART, REPO_ROOT, lockgate, write_project

HEAVY = ("pydantic", "docker", "torch", "mlflow", "dagger", "polars", "numpy", "yaml")


def test_help_imports_nothing_heavy():
    code = (
        "import sys, runpy\n"
        "sys.argv = ['lockgate', '--help']\n"
        "try:\n    runpy.run_module('lockgate', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert "usage: lockgate" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_every_command_has_help(tmp_path):
    from lockgate.commands import COMMANDS

    for name in COMMANDS:
        result = lockgate(name, "--help", cwd=tmp_path)
        assert result.code == 0, (name, result.stderr)
        assert result.stdout.startswith(f"usage: lockgate {name}")


def test_unknown_flag_is_a_usage_error(tmp_path):
    result = lockgate("run", "--stagee", "x", cwd=tmp_path)
    assert result.code == 2
    assert "unrecognized arguments: --stagee" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_command(tmp_path):
    result = lockgate("deploy", cwd=tmp_path)
    assert (
        result.code == 2 and "no command 'deploy'; the commands: validate, plan," in result.stderr
    )


def test_no_spec_here(tmp_path):
    result = lockgate("plan", cwd=tmp_path)
    assert result.code == 2
    assert result.stderr.startswith("lockgate: error: no lockgate.yaml in ")
    assert result.stderr.rstrip().endswith("pass --spec PATH")


def test_missing_spec_file(tmp_path):
    result = lockgate("validate", "--spec", "nope.yaml", cwd=tmp_path)
    assert result.code == 2
    assert "nope.yaml: no such file" in result.stderr


def test_unknown_stage_suggests(tmp_path):
    result = lockgate("run", "--stage", "fitt", "--executor", "local", cwd=QUICKSTART)
    assert result.code == 2
    assert result.stderr.strip() == (
        "lockgate: error: --stage fitt: no such stage in quickstart; did you mean 'fit'?"
    )


def test_only_requires_a_stage(tmp_path):
    result = lockgate("run", "--only", cwd=QUICKSTART)
    assert result.code == 2 and "--only needs at least one --stage" in result.stderr


def test_schema_is_json_schema_that_accepts_the_quickstart():
    import jsonschema
    import yaml

    result = lockgate("schema", cwd=REPO_ROOT)
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    spec = yaml.safe_load((QUICKSTART / "lockgate.yaml").read_text())
    jsonschema.validate(spec, schema)
    spec["stages"]["fit"]["needz"] = []
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(spec))
    assert errors, "an unknown key must not validate"


def test_failing_stage_fails_the_run_and_reports_every_failure(tmp_path):
    root = write_project(
        tmp_path / "p",
        """\
        version: 1
        name: failing
        image: {base: lockgate/debian:bookworm}
        stages:
          bad1: {run: [sh, -c, "exit 3"]}
          bad2: {run: [sh, -c, "exit 4"]}
          good: {run: ["true"]}
          after1: {run: ["true"], needs: [bad1]}
          after2: {run: ["true"], needs: [after1, good]}
        """,
    )
    result = lockgate("run", "--executor", "local", "--json", "-j", "1", cwd=root)
    assert result.code == 1
    events = [json.loads(line) for line in result.stdout.splitlines()]
    final = {
        e["stage"]: e["data"] for e in events if e["kind"] in {"stage-finished", "stage-skipped"}
    }
    assert final["bad1"]["reason"] == "exit code 3"
    assert final["bad2"]["reason"] == "exit code 4"
    assert final["good"]["state"] == "ok"
    assert final["after1"] == {"state": "skipped", "reason": "upstream 'bad1' did not succeed"}
    assert final["after2"]["state"] == "skipped"
    assert events[-1]["kind"] == "run-finished" and events[-1]["data"]["state"] == "failed"


def test_retries_rerun_a_flaky_stage(tmp_path):
    root = write_project(
        tmp_path / "p",
        f"""\
        version: 1
        name: flaky
        image: {{base: lockgate/debian:bookworm}}
        stages:
          flaky:
            run: [sh, -c, 'n=$(cat {tmp_path}/n 2>/dev/null || echo 0); echo $((n+1)) > {tmp_path}/n; [ $n -ge 2 ]']
            retries: 2
        """,
    )
    result = lockgate("run", "--executor", "local", "--json", cwd=root)
    assert result.code == 0, result.stderr
    starts = [json.loads(x) for x in result.stdout.splitlines() if '"stage-started"' in x]
    assert [e["data"]["attempt"] for e in starts] == [1, 2, 3]


def test_missing_declared_output_fails(tmp_path):
    root = write_project(
        tmp_path / "p",
        """\
        version: 1
        name: outputs
        image: {base: lockgate/debian:bookworm}
        stages:
          a: {run: ["true"], outputs: [model.pt]}
        """,
    )
    result = lockgate("run", "--executor", "local", cwd=root)
    assert result.code == 1
    assert "declared output 'model.pt' was not written" in result.stderr


def test_one_home_one_convention():
    """Every command is a module in lockgate.commands with add_arguments and run; every module
    there is a command or an ``_``-named helper; no core module imports the CLI."""
    import importlib
    import re

    from lockgate.commands import COMMANDS

    commands_dir = REPO_ROOT / "lockgate" / "commands"
    for module_name, _ in COMMANDS.values():
        module = importlib.import_module(f"lockgate.commands.{module_name}")
        assert callable(module.add_arguments) and callable(module.run), module_name
    listed = {module_name for module_name, _ in COMMANDS.values()}
    for path in commands_dir.glob("*.py"):
        assert path.stem in listed or path.stem.startswith("_"), path.name
    entry_points = {"__main__.py"}
    importers = [
        str(path.relative_to(REPO_ROOT))
        for path in (REPO_ROOT / "lockgate").rglob("*.py")
        if commands_dir not in path.parents
        and path.name not in entry_points
        and re.search(r"lockgate\.commands\b", path.read_text())
    ]
    assert importers == []
