"""With a KMS key (`encryption.key: hashivault://...`), each job seals its exported outputs under
a data key that it keeps, wrapped, in `.lockgate/out/.lockgate-keys/`; the next job, with a
fresh checkout, opens them only if that wrapped key reaches it, beside or above the upstream's
folder. Each provider's hand-over is followed here, and the next job's real `lockgate run`
opens what it was handed.

The KMS is the tests' recording Vault transit server (no Vault binary can be installed here).
GitLab runs for real in gitlab-ci-local. GitHub Actions and Jenkins cannot run here: GitHub's
artifacts are stood in for by copying what upload-artifact takes from its `path` (the artifact
holds the files below it) to where download-artifact puts them (`path`; with `pattern` and
`merge-multiple`, every matching artifact into it), and Jenkins' stash/unstash by copying the
files that the `includes` of lockgateStage's stash select (Ant patterns `DIR/**`: every file
below DIR)."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from generator_examples import REPO

from lockgate.generator.render import render_files
from lockgate.generator.yamltext import load
from tests.engine.kms_servers import VaultTransitServer
from tests.projects import REPO_ROOT, lockgate

TOKEN = "hvs.ci-jobs-token"
SPEC = """\
version: 1
name: kms
image: {base: lockgate/debian:bookworm}
secrets:
  vault-addr: {env: VAULT_ADDR}
  vault-token: {env: VAULT_TOKEN}
encryption:
  key: hashivault://lockgate
  credentials: {VAULT_ADDR: vault-addr, VAULT_TOKEN: vault-token}
stages:
  prep:
    run: [python3, -c, "import os, pathlib; pathlib.Path(os.environ['LOCKGATE_OUT'], 'x.txt').write_text('row-1')"]
    outputs: [x.txt]
  use:
    run: [python3, -c, "import os, pathlib; t = pathlib.Path(os.environ['LOCKGATE_IN'], 'prep', 'x.txt').read_text(); pathlib.Path(os.environ['LOCKGATE_OUT'], 'y.txt').write_text(t.upper())"]
    needs: [prep]
    outputs: [y.txt]
"""


@pytest.fixture
def vault() -> Iterator[dict[str, str]]:
    with VaultTransitServer(TOKEN) as server:
        yield {"VAULT_ADDR": server.addr, "VAULT_TOKEN": TOKEN}


def _checkout(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "lockgate.yaml").write_text(SPEC)
    return path


def _run_stage(root: Path, stage: str, upstream: str, env: dict[str, str]) -> None:
    done = lockgate(
        "run",
        "--stage",
        stage,
        "--only",
        "--executor",
        "local",
        "--upstream-dir",
        upstream,
        "--export-dir",
        ".lockgate/out",
        cwd=root,
        env=env,
    )
    assert done.code == 0, done.stdout + done.stderr


def _prep(tmp_path: Path, env: dict[str, str]) -> Path:
    """The upstream job: its own checkout, its export sealed under a fresh data key."""
    first = _checkout(tmp_path / "job-prep")
    (first / ".lockgate/in").mkdir(parents=True)
    _run_stage(first, "prep", ".lockgate/in", env)
    assert list((first / ".lockgate/out/.lockgate-keys").glob("*.json"))
    return first


def _copy_tree(source: Path, target: Path) -> None:
    for path in source.rglob("*"):
        if path.is_file():
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.relative_to(source))


def _uploads(steps: list[dict], job_root: Path, stage: str) -> dict[str, Path]:
    """upload-artifact: artifact name -> the folder whose files it holds."""
    found = {}
    for step in steps:
        if "upload-artifact" in step.get("uses", ""):
            name = step["with"]["name"].replace("${{ inputs.stage }}", stage)
            path = step["with"]["path"].replace("${{ inputs.stage }}", stage)
            assert step["with"]["include-hidden-files"] is True
            found[name] = job_root / path
    return found


def _download(step: dict, artifacts: dict[str, Path], job_root: Path) -> None:
    """download-artifact: by `name` into `path`; by `pattern` each match into `path/NAME`, or
    with `merge-multiple` all into `path`."""
    given = step["with"]
    target = job_root / given["path"]
    if "name" in given:
        _copy_tree(artifacts[given["name"]], target)
        return
    for name, folder in artifacts.items():
        if fnmatch.fnmatchcase(name, given["pattern"]):
            _copy_tree(folder, target if given.get("merge-multiple") else target / name)


def test_gitlab_jobs_hand_on_the_wrapped_key(
    tmp_path: Path, vault: dict[str, str], gitlab_ci_local_bin: Path
) -> None:
    from tests.conftest import missing_component

    if shutil.which("rsync") is None:
        missing_component("gitlab-ci-local needs rsync (apt-get install rsync)")
    repo, bin_dir = _checkout(tmp_path / "repo"), _cli(tmp_path)
    for rendered in render_files(
        provider="gitlab", spec=repo / "lockgate.yaml", root=repo, build_image=False
    ):
        (repo / rendered.path).write_text(rendered.text)
    git = ["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "pipeline"], check=True)
    path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]])
    done = subprocess.run(
        [str(gitlab_ci_local_bin), "--shell-isolation", "--variable", "CI_PIPELINE_SOURCE=push"],
        cwd=repo,
        env={**os.environ, **vault, "PATH": path},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    artifacts = repo / ".gitlab-ci-local/artifacts"
    assert list((artifacts / "lockgate-prep/.lockgate/out/.lockgate-keys").glob("*.json"))
    assert (artifacts / "lockgate-use/.lockgate/out/use/y.txt").is_file()
    assert TOKEN not in done.stdout + done.stderr


def test_github_jobs_hand_on_the_wrapped_key(tmp_path: Path, vault: dict[str, str]) -> None:
    first = _prep(tmp_path, vault)
    jobs = load(render_files(provider="github", spec=first / "lockgate.yaml", root=first)[0].text)[
        "jobs"
    ]
    artifacts = _uploads(jobs["lockgate-prep"]["steps"], first, "prep")
    second = _checkout(tmp_path / "job-use")
    for step in jobs["lockgate-use"]["steps"]:
        if "download-artifact" in step.get("uses", ""):
            _download(step, artifacts, second)
    run = next(s["run"] for s in jobs["lockgate-use"]["steps"] if s["name"] == "Run stage use")
    done = lockgate(*run.split()[1:], cwd=second, env=vault)
    assert done.code == 0, done.stdout + done.stderr


def test_the_action_set_hands_on_the_wrapped_key(tmp_path: Path, vault: dict[str, str]) -> None:
    first = _prep(tmp_path, vault)
    steps = load((REPO / "actions/stage/action.yml").read_text())["runs"]["steps"]
    artifacts = _uploads(steps, first, "prep")
    second = _checkout(tmp_path / "job-use")
    download = next(s for s in steps if "download-artifact" in s.get("uses", ""))
    _download(download, artifacts, second)
    arrange = next(s for s in steps if s["name"] == "Arrange upstream outputs")
    env = {**os.environ, "LOCKGATE_NEEDS": "prep", "PYTHONPATH": str(REPO_ROOT)}
    env["PATH"] = os.pathsep.join([str(_cli(tmp_path)), env["PATH"]])
    done = subprocess.run(
        ["bash", "-e", "-c", arrange["run"]], cwd=second, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    _run_stage(second, "use", ".lockgate/in", vault)


def test_jenkins_stash_hands_on_the_wrapped_key(tmp_path: Path, vault: dict[str, str]) -> None:
    first = _prep(tmp_path, vault)
    library = (REPO / "jenkins/vars/lockgateStage.groovy").read_text()
    includes = re.search(r'stash name: "lockgate-\$\{name\}", includes: "([^"]+)"', library)
    assert includes, "lockgateStage no longer stashes lockgate-NAME with includes"
    patterns = includes[1].replace("${out}", ".lockgate/out").replace("${name}", "prep")
    stashed = sorted({rel for pattern in patterns.split(",") for rel in _ant_files(first, pattern)})
    assert ".lockgate/out/prep/x.txt" in stashed
    second = _checkout(tmp_path / "job-use")  # unstash: the same paths in the next workspace
    for rel in stashed:
        (second / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(first / rel, second / rel)
    _run_stage(second, "use", ".lockgate/out", vault)


def _ant_files(root: Path, pattern: str) -> list[str]:
    """The files under ``root`` an Ant include pattern of the form ``DIR/**`` selects (every
    file below DIR, hidden ones too: Ant's default excludes name only version-control and
    editor files)."""
    assert pattern.endswith("/**") and "*" not in pattern[:-3], pattern
    folder = root / pattern[:-3]
    return [p.relative_to(root).as_posix() for p in folder.rglob("*") if p.is_file()]


def _cli(tmp_path: Path) -> Path:
    """A folder holding `lockgate`, the real CLI of this checkout, as an installed one would
    be, for the jobs' steps that call it."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    cli = folder / "lockgate"
    cli.write_text(f'#!/bin/sh\nPYTHONPATH={REPO_ROOT} exec {sys.executable} -m lockgate "$@"\n')
    cli.chmod(0o755)
    return folder
