"""`lockgate generate`: writing, --check, --update and bad input, through run() and
through `python -m lockgate.generator`."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import pytest

from lockgate.commands.generate import add_arguments, run
from lockgate.errors import LockgateError
from lockgate.generator.yamltext import load
from tests.generator.generator_examples import REPO, example_repo


def _run(root: Path, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = io.StringIO()
    code = run(parser.parse_args([*argv, "--root", str(root)]), stdout=out)
    return code, out.getvalue()


def _files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in root.rglob("*")
        if p.is_file() and ".git/" not in p.as_posix()
    }


def test_all_writes_each_provider_and_check_then_passes(tmp_path: Path) -> None:
    root = example_repo(tmp_path, "environments")
    code, _ = _run(root, "all")
    assert code == 0
    assert {".github/workflows/lockgate.yml", ".gitlab-ci.yml", "Jenkinsfile"} <= set(_files(root))
    assert (root / ".gitlab-ci.setup.sh").stat().st_mode & 0o111
    assert _run(root, "all", "--check") == (0, "")


def test_check_on_a_stale_file_exits_1_with_a_diff_and_writes_nothing(tmp_path: Path) -> None:
    root = example_repo(tmp_path, "quickstart")
    _run(root, "github")
    workflow = root / ".github/workflows/lockgate.yml"
    spec = root / "lockgate.yaml"
    spec.write_text(spec.read_text().replace("[features, stats]", "[features]"))
    before = _files(root)
    code, out = _run(root, "github", "--check")
    assert code == 1
    assert out.startswith(
        "--- a/.github/workflows/lockgate.yml\n+++ b/.github/workflows/lockgate.yml"
    )
    assert "-    needs: [lockgate--image, lockgate-features, lockgate-stats]" in out
    assert "+    needs: [lockgate--image, lockgate-features]" in out
    assert (
        _files(root) == before and workflow.read_text() == before[".github/workflows/lockgate.yml"]
    )


HAND_EDITED_GITHUB = """\
# Our team's workflow. Keep this comment.
  lint:  # a job we added
    runs-on: ubuntu-24.04
    steps:
      - run: make lint  # lint first
"""


def test_update_keeps_comments_and_user_jobs_and_replaces_lockgate_jobs(tmp_path: Path) -> None:
    root = example_repo(tmp_path, "quickstart")
    _run(root, "github")
    workflow = root / ".github/workflows/lockgate.yml"
    text = workflow.read_text()
    text = "# Our team's workflow. Keep this comment.\n" + text
    text = text.replace("jobs:\n", "jobs:\n" + HAND_EDITED_GITHUB.split("\n", 1)[1], 1)
    text = text.replace("  workflow_dispatch:\n", "  workflow_dispatch:\n  merge_group:  # ours\n")
    text = text.replace("--stage report", "--stage report-by-hand")  # edits lockgate's own job
    workflow.write_text(text)
    spec = root / "lockgate.yaml"
    spec.write_text(
        spec.read_text().replace(
            "  report:\n",
            "  publish:\n    run: [python, publish.py]\n    needs: [report]\n  report:\n",
        )
    )

    code, _ = _run(root, "github", "--update")
    assert code == 0
    merged = workflow.read_text()
    assert "# Our team's workflow. Keep this comment." in merged
    assert "lint:  # a job we added" in merged and "make lint  # lint first" in merged
    assert "merge_group:  # ours" in merged
    assert "report-by-hand" not in merged
    jobs = list(load(merged)["jobs"])
    assert jobs.index("lint") < jobs.index("lockgate--image")
    assert jobs[-3:] == ["lockgate-report", "lockgate-publish", "lockgate--report"]
    assert _run(root, "github", "--update", "--check") == (0, "")
    assert _run(root, "github", "--check")[0] == 1  # differs from a fresh file, by the user's parts


def test_update_keeps_full_line_comments_that_follow_a_lockgate_job(tmp_path: Path) -> None:
    """Regression: a comment on its own line after a lockgate job (ruamel attaches it to that
    job's last value) used to vanish when the job was rewritten."""
    root = example_repo(tmp_path, "quickstart")
    _run(root, "github")
    workflow = root / ".github/workflows/lockgate.yml"
    text = workflow.read_text()
    user_job = (
        "  # docs: published from main only (keep this note)\n"
        "  # second line of the note\n"
        "  docs:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: make docs\n"
    )
    text = text.replace("  lockgate-stats:\n", user_job + "  lockgate-stats:\n", 1)
    workflow.write_text(text)
    spec = root / "lockgate.yaml"
    spec.write_text(spec.read_text().replace("[features, stats]", "[features]"))
    assert _run(root, "github", "--update")[0] == 0
    merged = workflow.read_text()
    assert (
        "  # docs: published from main only (keep this note)\n  # second line of the note\n  docs:\n"
        in merged
    )
    assert "needs: [lockgate--image, lockgate-features]" in merged  # the lockgate part did change
    assert merged.count("keep this note") == 1
    assert _run(root, "github", "--update")[0] == 0
    assert workflow.read_text() == merged  # a second update changes nothing


def test_update_gitlab_keeps_full_line_comments_that_follow_a_lockgate_job(tmp_path: Path) -> None:
    """The same regression in GitLab's layout, where jobs sit at the top level: the note above a
    user's job that follows a rewritten lockgate job stays above that job."""
    root = example_repo(tmp_path, "quickstart")
    _run(root, "gitlab")
    path = root / ".gitlab-ci.yml"
    note = "# docs: published from main only (keep this note)\n# second line of the note\n"
    user_job = note + "docs:\n  stage: lockgate-0\n  script: [make docs]\n"
    path.write_text(
        path.read_text().replace("lockgate-stats:\n", user_job + "lockgate-stats:\n", 1)
    )
    spec = root / "lockgate.yaml"
    spec.write_text(spec.read_text().replace("[features, stats]", "[features]"))
    assert _run(root, "gitlab", "--update")[0] == 0
    merged = path.read_text()
    assert note + "docs:\n" in merged and merged.count("keep this note") == 1
    assert "needs: [lockgate--image, lockgate-features]" in merged
    assert _run(root, "gitlab", "--update")[0] == 0
    assert path.read_text() == merged


def test_update_gitlab_keeps_user_jobs_stages_and_variables(tmp_path: Path) -> None:
    root = example_repo(tmp_path, "quickstart")
    _run(root, "gitlab")
    path = root / ".gitlab-ci.yml"
    text = path.read_text().replace("stages:\n", "stages:\n  - lint  # ours\n", 1)
    text = text.replace("variables:\n", "variables:\n  TEAM: ml  # ours\n", 1)
    text += "lint:\n  stage: lint\n  script: [make lint]  # ours too\n"
    path.write_text(text)
    spec = root / "lockgate.yaml"
    spec.write_text(spec.read_text().replace("needs: [train]", "needs: [prepare]"))
    assert _run(root, "gitlab", "--update")[0] == 0
    doc = load(path.read_text())
    assert doc["stages"][0] == "lint" and "lockgate-0" in doc["stages"]
    assert doc["variables"]["TEAM"] == "ml" and doc["variables"]["LOCKGATE_SPEC"] == "lockgate.yaml"
    assert doc["lint"]["script"] == ["make lint"]
    assert list(doc["lockgate-report"]["needs"]) == ["lockgate--image", "lockgate-prepare"]
    assert "script: [make lint]  # ours too" in path.read_text()


def test_update_jenkins_replaces_only_the_marked_block(tmp_path: Path) -> None:
    root = example_repo(tmp_path, "quickstart")
    _run(root, "jenkins")
    path = root / "Jenkinsfile"
    path.write_text("// ours, above\n" + path.read_text() + "def helper() { 1 }  // ours, below\n")
    spec = root / "lockgate.yaml"
    spec.write_text(spec.read_text().replace("needs: [train]", "needs: [prepare]"))
    assert _run(root, "jenkins", "--update")[0] == 0
    text = path.read_text()
    assert text.startswith("// ours, above\n// >>> lockgate")
    assert text.endswith("// <<< lockgate\ndef helper() { 1 }  // ours, below\n")
    assert "lockgateStage(name: 'report', needs: ['prepare']" in text


def test_update_refuses_a_file_without_markers_and_writes_nothing(tmp_path: Path) -> None:
    root = example_repo(tmp_path, "minimal")
    (root / "Jenkinsfile").write_text("pipeline { }\n")
    with pytest.raises(LockgateError, match="no lockgate markers"):
        _run(root, "jenkins", "--update")
    assert (root / "Jenkinsfile").read_text() == "pipeline { }\n"


def test_approvals_without_people_is_one_clear_error_and_nothing_written(tmp_path: Path) -> None:
    root = example_repo(tmp_path, "environments")
    spec = root / "lockgate.yaml"
    spec.write_text(spec.read_text().replace("release: [rita, sam]", "release: []"))
    with pytest.raises(LockgateError) as caught:
        _run(root, "all")
    assert str(caught.value) == (
        "environments.production: requires 1 approval(s) but its approvers resolve to nobody; "
        "add users to `approvers` or to the named `groups`"
    )
    assert set(_files(root)) == {"lockgate.yaml"}


def test_spec_without_approvers_fails_at_load_with_its_position(tmp_path: Path) -> None:
    root = example_repo(tmp_path, "environments")
    spec = root / "lockgate.yaml"
    spec.write_text(spec.read_text().replace('    approvers: ["@release"]\n', ""))
    with pytest.raises(
        LockgateError,
        match=r"lockgate.yaml:\d+:\d+: environments\[1\]: requires 1 approval\(s\) "
        r"but lists no `approvers`$",
    ):
        _run(root, "github")
    assert set(_files(root)) == {"lockgate.yaml"}


def test_trigger_mismatch_names_both_stages(tmp_path: Path) -> None:
    root = example_repo(tmp_path, "environments")
    spec = root / "lockgate.yaml"
    spec.write_text(
        spec.read_text().replace(
            "    needs: [train]\n    when: [push, manual]",
            "    needs: [train]\n    when: [push, manual]\n",
            1,
        )
    )
    text = spec.read_text().replace(
        "  train:\n    run: [python, train.py]\n",
        "  train:\n    run: [python, train.py]\n    when: [pull_request]\n",
    )
    spec.write_text(text)
    with pytest.raises(
        LockgateError,
        match=r"stages.package.when: runs on push, manual but its upstream 'train' does not",
    ):
        _run(root, "gitlab")


def test_actions_reference_must_be_a_full_sha(tmp_path: Path) -> None:
    root = example_repo(tmp_path, "minimal")
    with pytest.raises(LockgateError, match="full 40-character commit SHA"):
        _run(root, "github", "--actions", "lockgate/lockgate@v1")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bitbucket"], "invalid choice: 'bitbucket'"),
        (["all", "--out", "x.yml"], "lockgate: error: --out names one file"),
        (["github", "--spec", "missing.yaml"], "lockgate: error:"),
    ],
)
def test_module_entry_point_reports_bad_input_in_one_line(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    root = example_repo(tmp_path, "minimal")
    done = subprocess.run(
        [sys.executable, "-m", "lockgate", "generate", *argv, "--root", str(root)],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert message in last and "Traceback" not in done.stderr
    assert done.stderr.count("error:") == 1
    assert set(_files(root)) == {"lockgate.yaml"}


def test_module_entry_point_writes(tmp_path: Path) -> None:
    root = example_repo(tmp_path, "minimal")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lockgate",
            "generate",
            "gitlab",
            "--no-image",
            "--out",
            "ci/gitlab.yml",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "wrote ci/gitlab.yml\n"
    assert "image:" not in (root / "ci/gitlab.yml").read_text()
