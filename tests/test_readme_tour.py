"""README.md's five-minute tour, run as written: its commands in order, on a copy of
pipelines/quickstart, with the real CLI and whatever executor lockgate picks here (the Docker
engine when it answers). Each step asserts what the README's comment says about it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.projects import QUICKSTART, REPO_ROOT, last_record, states

README = REPO_ROOT / "README.md"


def tour_lines() -> list[str]:
    text = README.read_text()
    section = text.split("## A five-minute tour", 1)[1]
    block = section.split("```", 2)[1]
    # a line holding only a comment continues the comment of the command above it
    return [line for line in block.splitlines() if line.split("#", 1)[0].strip()]


def comment(line: str) -> str:
    return line.split("#", 1)[1].strip() if "#" in line else ""


def command(line: str) -> str:
    return line.split("#", 1)[0].strip()


@pytest.fixture
def shell(tmp_path: Path):
    """Runs one tour line in bash, with `lockgate` meaning this checkout's CLI; returns
    (exit code, stdout, stderr, seconds)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "lockgate"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m lockgate "$@"\n')
    wrapper.chmod(0o755)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "NO_COLOR": "1",
    }
    env.pop("CI", None)
    where = {"cwd": tmp_path}

    def run(line: str) -> subprocess.CompletedProcess[str]:
        cmd = command(line)
        if cmd.startswith("cd "):
            where["cwd"] = where["cwd"] / cmd[3:].strip()
            return subprocess.CompletedProcess(cmd, 0, "", "")
        if cmd.startswith("export "):
            name = cmd[len("export ") :].split("=", 1)[0]
            done = subprocess.run(
                ["bash", "-c", f'{cmd} && printf %s "${name}"'],
                cwd=where["cwd"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            env[name] = done.stdout
            return done
        return subprocess.run(
            ["bash", "-c", cmd],
            cwd=where["cwd"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    return run, where


def test_readme_tour_runs_as_written(tmp_path: Path, shell) -> None:
    shutil.copytree(QUICKSTART, tmp_path / "pipelines" / "quickstart")
    run, where = shell
    lines = tour_lines()
    assert [command(line).split()[0] for line in lines][:2] == ["cd", "export"]
    seen: list[str] = []
    for line in lines:
        cmd, said = command(line), comment(line)
        done = run(line)
        assert done.returncode == 0, f"{cmd}: {done.stderr}"
        project = where["cwd"]
        if cmd == "lockgate validate":
            assert said.startswith('"ok"')
            assert done.stdout.startswith("ok: lockgate.yaml (quickstart, 5 stages)")
            assert "warning" not in done.stderr  # the tour exported the pipeline's secret
        elif cmd == "lockgate plan":
            assert said.startswith("stages in order, what is cached, what will run")
            assert [row.split()[1] for row in done.stdout.splitlines()[:5]] == [
                "prepare",
                "stats",
                "features",
                "fit",
                "report",
            ]
            assert done.stdout.strip().endswith("5 to run, 0 cached")
        elif cmd == "lockgate run" and "lockgate run" not in seen:
            assert said.startswith("every stage")
            assert set(states(last_record(project)).values()) == {"ok"}
        elif cmd == "lockgate run" and said.startswith("again: all cached"):
            assert set(states(last_record(project)).values()) == {"cached"}
            # the time itself is measured in benchmarks/ (no timing thresholds in tests): here,
            # that a cached run does no work that could take time, no image build, no stage
            assert re.search(r"succeeded in [0-9.]+s", done.stderr), done.stderr
            assert "image" not in done.stderr and "▶" not in done.stderr, done.stderr
        elif cmd.startswith("echo "):
            assert (project / "data" / "part-2.csv").read_text().endswith("150,5,450\n")
        elif cmd == "lockgate run":
            assert said.startswith("prepare and everything downstream of it re-run")
            assert states(last_record(project)) == {
                "prepare": "ok",
                "stats": "ok",
                "features": "ok",
                "fit": "ok",
                "report": "ok",
            }
        elif cmd == "lockgate run --stage fit":
            assert said.startswith("one stage and its upstream")
            assert states(last_record(project)) == {  # fit needs features, which needs prepare
                "prepare": "cached",
                "features": "cached",
                "fit": "cached",
            }
        elif cmd == "lockgate run --executor local":
            assert said.startswith("force an executor")
            assert last_record(project)["executor"] == "local"
        elif cmd == "lockgate cache-key fit":
            fit = next(s for s in last_record(project)["stages"] if s["name"] == "fit")
            assert done.stdout.strip() == fit["cache_key"]
        elif cmd.startswith("lockgate schema"):
            schema = json.loads((project / "lockgate.schema.json").read_text())
            assert "stages" in schema["properties"]
        elif not cmd.startswith(("cd ", "export ")):
            raise AssertionError(f"the tour has a step this test does not check: {cmd}")
        seen.append(cmd)
    assert len(seen) == len(lines)


def test_readme_says_where_each_install_of_lockgate_comes_from(tmp_path: Path) -> None:
    """What the README says about the two installs is what the scripts and generator do."""
    import lockgate
    from tests.projects import lockgate as cli

    text = " ".join(README.read_text().split())
    assert "`scripts/quickstart` installs it from this checkout (`pip install -e .`)" in text
    assert "install it from the package index pinned to the version that generated them" in text
    assert (
        '-m pip install -q --disable-pip-version-check -e "$REPO'
        in (REPO_ROOT / "scripts" / "quickstart").read_text()
    )
    project = tmp_path / "q"
    shutil.copytree(QUICKSTART, project)
    done = cli("generate", "github", cwd=project)
    assert done.code == 0, done.stderr
    workflows = "".join(p.read_text() for p in (project / ".github").rglob("*.yml"))
    assert f"pip install 'lockgate[docker]=={lockgate.__version__}'" in workflows
