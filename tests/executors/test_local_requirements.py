"""The local executor checks, before a stage starts, that the interpreter it will use has the
packages the image recipe's requirements file names: a real, empty virtual environment first
on PATH stands in for a fresh machine's system Python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lockgate.executors.local_requirements import (
    mismatched,
    requirement_names,
    stage_interpreter,
)
from tests.projects import last_record, lockgate, write_project

SPEC = """\
version: 1
name: req
image: {base: lockgate/debian:bookworm, requirements: requirements.txt}
stages:
  step:
    run: [python3, step.py]
"""
STEP = 'open("ran", "w").write("the stage ran")\n'


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with nothing installed (not even pip)."""
    folder = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    return folder / "bin"


def test_a_missing_package_stops_the_stage_before_it_runs(tmp_path, bare_python) -> None:
    root = write_project(
        tmp_path / "p",
        SPEC,
        {"step.py": STEP, "requirements.txt": "pandas>=2.0  # data\nno-such-dist==1.0\n"},
    )
    result = lockgate(
        "run", "--executor", "local", cwd=root, env={"PATH": f"{bare_python}:/usr/bin:/bin"}
    )
    assert result.code == 1
    message = (
        f"stage step: the local executor runs {bare_python}/python3, which lacks pandas, "
        f"no-such-dist (named in requirements.txt): install them ({bare_python}/python3 -m pip "
        f"install -r {root}/requirements.txt), put an environment that has them first on PATH, "
        "or run with --executor docker, which installs them into the runner image"
    )
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (root / "ran").exists()
    assert last_record(root)["stages"][0]["state"] == "failed"


def test_the_test_environment_has_what_the_recipe_names(tmp_path) -> None:
    """lockgate's own dependency, named by its distribution name (PyYAML imports as yaml)."""
    root = write_project(tmp_path / "p", SPEC, {"step.py": STEP, "requirements.txt": "PyYAML\n"})
    result = lockgate("run", "--executor", "local", cwd=root)
    assert result.code == 0, result.stdout + result.stderr
    assert (root / "ran").read_text() == "the stage ran"


def test_an_installed_version_outside_the_specifier_stops_the_stage(tmp_path) -> None:
    """The test environment has PyYAML 6 or later; a recipe asking for <6 would run elsewhere
    in CI than here, so the local run refuses rather than run other code."""
    import yaml

    python3 = Path(sys.executable).parent / "python3"  # what `python3 step.py` finds first
    root = write_project(tmp_path / "p", SPEC, {"step.py": STEP, "requirements.txt": "PyYAML<6\n"})
    result = lockgate("run", "--executor", "local", cwd=root)
    assert result.code == 1
    message = (
        f"stage step: the local executor runs {python3}, whose PyYAML {yaml.__version__} "
        "(asked: <6) differs from what requirements.txt asks, so the stage would not run what "
        f"CI runs: install the asked versions ({python3} -m pip install -r "
        f"{root}/requirements.txt)"
    )
    output = result.stdout + result.stderr
    assert message in output, output
    assert not (root / "ran").exists()


def test_versions_are_judged_by_the_specifier_and_marker() -> None:
    lines = (
        "torch==2.13.0",
        "numpy>=2 ; python_version < '3'",
        "polars>=1.20,<2",
        "rich",
        "pandas~=2.0",
    )
    versions = {
        "torch": "2.13.0+cpu",
        "numpy": "1.0",
        "polars": "2.1.0",
        "rich": "13.0",
        "pandas": "1.5.3",
    }
    assert mismatched(lines, versions) == [
        "polars 2.1.0 (asked: <2,>=1.20)",
        "pandas 1.5.3 (asked: ~=2.0)",
    ]


def test_requirement_names_leave_options_urls_and_paths_to_pip(tmp_path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# comment\n--index-url https://mirror.example/simple\n-r other.txt\n"
        "torch==2.13.0\nscikit-learn>=1.4 ; python_version >= '3.10'\n"
        "./local-wheel.whl\nhttps://example.org/x.whl\nrich[jupyter]>=13\n"
    )
    assert requirement_names(requirements) == ("torch", "scikit-learn", "rich")


def test_the_interpreter_is_the_one_the_stage_will_run(bare_python) -> None:
    path = f"{bare_python}:/usr/bin"
    assert stage_interpreter(("lockgate", "stage", "train"), path) == sys.executable
    assert stage_interpreter(("python3", "x.py"), path) == f"{bare_python}/python3"
    assert stage_interpreter(("sh", "-c", "python3 x.py"), path) == f"{bare_python}/python3"
