"""Triggers as each provider reads them: branch globs on GitLab (run by gitlab-ci-local), a
stage that names a trigger the pipeline lacks (actionlint), and `--update` dropping the triggers
and inputs the spec no longer asks for."""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from generator_examples import tool

from lockgate.commands.generate import add_arguments, run
from lockgate.generator.model import GenerateError
from lockgate.generator.render import render_files
from lockgate.generator.yamltext import load
from tests.conftest import missing_component

GLOBS = """\
version: 1
name: globs
image: {base: python:3.11-slim-bookworm}
triggers:
  pull_request: {branches: ["release/**"]}
  push: {branches: [main, "release/*"]}
stages:
  test: {run: [python3, -c, "print(1)"]}
  ship: {run: [python3, -c, "print(2)"], needs: [test], when: [push]}
"""


def _generate(root: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run(parser.parse_args([*argv, "--root", str(root)]), stdout=io.StringIO())


def _gitlab_jobs(gcl: str, repo: Path, branch: str) -> set[str]:
    """The jobs gitlab-ci-local would run for a push to ``branch``."""
    git = ["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run(["git", "init", "-q", "-b", branch, str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "pipeline"], check=True)
    done = subprocess.run(
        [gcl, "--variable", "CI_PIPELINE_SOURCE=push", "--list"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return {line.split()[0] for line in done.stdout.splitlines() if line.startswith("lockgate-")}


@pytest.mark.parametrize(
    ("branch", "ships"), [("release/1.0", True), ("main", True), ("release/1.0/x", False)]
)
def test_gitlab_push_rules_match_branch_globs(
    tmp_path: Path, gitlab_ci_local_bin: Path, branch: str, ships: bool
) -> None:
    if shutil.which("rsync") is None:
        missing_component("gitlab-ci-local needs rsync (apt-get install rsync)")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "lockgate.yaml").write_text(GLOBS)
    for rendered in render_files(
        provider="gitlab", spec=repo / "lockgate.yaml", root=repo, build_image=False
    ):
        (repo / rendered.path).write_text(rendered.text)
    jobs = _gitlab_jobs(str(gitlab_ci_local_bin), repo, branch)
    assert ("lockgate-ship" in jobs) is ships, jobs


def test_gitlab_rules_quote_values_gitlab_cannot_escape(tmp_path: Path) -> None:
    spec = GLOBS.replace('[main, "release/*"]', """[main, 'we"ird']""")
    (tmp_path / "lockgate.yaml").write_text(spec)
    text = render_files(provider="gitlab", spec=tmp_path / "lockgate.yaml", root=tmp_path)[0].text
    assert """$CI_COMMIT_BRANCH == 'we"ird'""" in text
    assert "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME =~ /^release\\/.*$/" in text
    (tmp_path / ".gitlab-ci.yml").write_text(text)
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", ".gitlab-ci.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


NO_DATA_TRIGGER = """\
version: 1
name: odd
image: {base: python:3.11-slim-bookworm}
stages:
  a: {run: [python3, -c, "1"], when: [data_update, pull_request]}
"""


def test_a_trigger_the_pipeline_lacks_leaves_no_undefined_input(tmp_path: Path) -> None:
    (tmp_path / "lockgate.yaml").write_text(NO_DATA_TRIGGER)
    assert _generate(tmp_path, "github") == 0
    workflow = tmp_path / ".github/workflows/lockgate.yml"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    done = subprocess.run(
        [tool("actionlint"), "-no-color", str(workflow)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    job = load(workflow.read_text())["jobs"]["lockgate-a"]
    assert "github.event_name == 'pull_request'" in job["if"]
    assert "repository_dispatch" not in job["if"]


def test_a_stage_on_no_trigger_of_the_pipeline_is_refused(tmp_path: Path) -> None:
    (tmp_path / "lockgate.yaml").write_text(
        NO_DATA_TRIGGER.replace("[data_update, pull_request]", "[data_update]")
    )
    with pytest.raises(GenerateError, match=r"stages\.a\.when: lists data_update, none of"):
        render_files(provider="all", spec=tmp_path / "lockgate.yaml", root=tmp_path)
    assert not (tmp_path / ".gitlab-ci.yml").exists()


DRIFT = """\
version: 1
name: drift
image: {base: python:3.11-slim-bookworm}
triggers:
  schedule: [{cron: "0 3 * * 1"}]
  data_update: {event: data-update}
stages:
  test: {run: [python3, -c, "print(1)"]}
"""


def test_update_drops_triggers_and_inputs_the_spec_no_longer_has(tmp_path: Path) -> None:
    spec = tmp_path / "lockgate.yaml"
    spec.write_text(DRIFT)
    assert _generate(tmp_path, "github") == 0
    workflow = tmp_path / ".github/workflows/lockgate.yml"
    # a key and a trigger of the user's own stay
    workflow.write_text(
        workflow.read_text().replace(
            "  workflow_dispatch:\n", "  merge_group:\n  workflow_dispatch:\n"
        )
        + "  mine:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo mine\n"
    )
    spec.write_text(
        DRIFT.replace(
            '  schedule: [{cron: "0 3 * * 1"}]\n  data_update: {event: data-update}\n',
            "  schedule: []\n",
        )
    )
    assert _generate(tmp_path, "github", "--check", "--update") == 1
    assert _generate(tmp_path, "github", "--update") == 0
    merged = load(workflow.read_text())
    assert set(merged["on"]) == {"pull_request", "push", "merge_group", "workflow_dispatch"}
    assert set(merged["on"]["workflow_dispatch"]["inputs"]) == {"stage", "no_cache"}
    assert "env" not in merged
    assert "mine" in merged["jobs"]
    assert _generate(tmp_path, "github", "--check", "--update") == 0
