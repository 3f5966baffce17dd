"""`lockgate generate github --no-image`: a stage job on GitHub's hosted runner, which has
neither lockgate nor the stage's packages, installs them itself (Python pinned, lockgate as
`--install` says, the image recipe's requirements) and then runs the stage.

GitHub's hosted runner cannot run here. It is stood in for by a fresh virtual environment with
nothing installed, first on PATH (what actions/setup-python leaves), and the job's `run:` steps
run in order with bash in a copy of the repository, as the runner runs them; the other `uses:`
steps (checkout, cache, artifacts) have nothing to do for a job without upstreams."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from generator_examples import REPO, tool

from lockgate.errors import LockgateError
from lockgate.generator.render import render_files
from lockgate.generator.yamltext import load

SPEC = """\
version: 1
name: hosted
image: {base: lockgate/debian:bookworm, requirements: ml/requirements.txt, packages: [jq]}
stages:
  prep:
    run: [python3, -c, "import os, pathlib, six; pathlib.Path(os.environ['LOCKGATE_OUT'], 'six.txt').write_text(six.__version__)"]
    outputs: [six.txt]
  gpu:
    run: [python3, -c, "print(1)"]
    needs: [prep]
    runner: {labels: [gpu-box]}
"""


def _workflow(root: Path, **options: object) -> dict:
    files = render_files(
        provider="github", spec=root / "lockgate.yaml", root=root, build_image=False, **options
    )  # type: ignore[arg-type]
    return load(files[0].text)


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "ml").mkdir(parents=True)
    (root / "lockgate.yaml").write_text(SPEC)
    (root / "ml/requirements.txt").write_text("six>=1.16  # not a dependency of lockgate\n")
    return root


def test_the_hosted_job_installs_lockgate_and_the_requirements_then_runs(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    source = root / "tools/lockgate"  # --install ./DIR: lockgate from the repository itself
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "lockgate", source / "lockgate", ignore=shutil.ignore_patterns("__pycache__")
    )
    job = _workflow(root, install="./tools/lockgate")["jobs"]["lockgate-prep"]
    assert job["runs-on"] == "ubuntu-24.04"
    names = [s["name"] for s in job["steps"]]
    assert names[:6] == [
        "Check out",
        "Set up Python",
        "Install lockgate",
        "Install the stage's OS packages",
        "Install the stage's requirements",
        "Compute the cache key",
    ]
    setup = job["steps"][1]
    assert "actions/setup-python@" in setup["uses"] and setup["with"]["python-version"] == "3.11"

    runner = tmp_path / "runner"  # the hosted runner's Python: nothing installed in it
    subprocess.run([sys.executable, "-m", "venv", str(runner)], check=True)
    env = {
        "PATH": os.pathsep.join([str(runner / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(tmp_path),
        "GITHUB_OUTPUT": str(tmp_path / "github-output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_ACTIONS": "true",
        "CI": "true",
    }
    for step in job["steps"]:
        if "run" not in step or step["name"] == "Install the stage's OS packages":
            continue  # apt-get needs root, which the tests do not have; jq is not used
        assert "${{" not in step["run"], step
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, f"{step['name']}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    assert (root / ".lockgate/out/prep/six.txt").read_text().startswith("1.")


def test_only_hosted_jobs_set_up_and_the_action_set_gets_the_same(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    jobs = _workflow(root)["jobs"]
    apt = next(s for s in jobs["lockgate-prep"]["steps"] if "OS packages" in s["name"])
    assert apt["run"] == (
        "sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y "
        "--no-install-recommends jq"
    )
    # a self-hosted runner in shell mode is one that has lockgate and the packages already
    assert [s["name"] for s in jobs["lockgate-gpu"]["steps"]][:2] == [
        "Check out",
        "Download the outputs of prep",
    ]
    with_actions = _workflow(root, actions="./")["jobs"]["lockgate-prep"]
    assert [s["name"] for s in with_actions["steps"]] == [
        "Check out",
        "Set up Python",
        "Install lockgate",
        "Install the stage's OS packages",
        "Install the stage's requirements",
        "Run stage prep",
    ]
    # the image mode is unchanged: the runner image has all of it
    image_jobs = load(
        render_files(provider="github", spec=root / "lockgate.yaml", root=root)[0].text
    )["jobs"]
    assert "Install lockgate" not in [s["name"] for s in image_jobs["lockgate-prep"]["steps"]]
    workflow = root / ".github/workflows/lockgate.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(
        render_files(provider="github", spec=root / "lockgate.yaml", root=root, build_image=False)[
            0
        ].text
    )
    (root / "actionlint.yaml").write_text("self-hosted-runner:\n  labels: [gpu-box]\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    done = subprocess.run(
        [tool("actionlint"), "-config-file", "actionlint.yaml", "-no-color", str(workflow)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_dockerfile_image_on_a_hosted_runner_is_refused_in_one_line(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    (root / "lockgate.yaml").write_text(
        SPEC.replace(
            "    outputs: [six.txt]\n",
            "    outputs: [six.txt]\n    image: {dockerfile: ml/Dockerfile, context: ml}\n",
        )
    )
    (root / "ml/Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(LockgateError) as raised:
        _workflow(root)
    assert str(raised.value) == (
        "stages.prep.image.dockerfile: stage prep runs on a hosted runner with --no-image, where "
        "nothing installs what ml/Dockerfile does; generate without --no-image, or give "
        "stages.prep.runner.labels of a self-hosted runner that has it"
    )
