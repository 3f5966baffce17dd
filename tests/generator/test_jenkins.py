"""The generated Jenkinsfiles and the shared library parse with Groovy; their structure says what
the spec says (no Jenkins here to run declarative semantics, so structure is asserted)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from generator_examples import EXAMPLE_NAMES, EXAMPLES, REPO, java_env, tool

from lockgate.generator.render import render_files

PARSER = Path(__file__).with_name("parse_groovy.groovy")


def _jenkinsfile(example: str, **options: object) -> str:
    root = EXAMPLES / example
    files = render_files(provider="jenkins", spec=root / "lockgate.yaml", root=root, **options)
    return files[0].text


def test_every_jenkinsfile_and_library_step_parses(tmp_path: Path) -> None:
    paths = []
    for example in EXAMPLE_NAMES:
        for mode in (True, False):
            path = tmp_path / f"{example}-{mode}.Jenkinsfile"
            path.write_text(_jenkinsfile(example, build_image=mode), encoding="utf-8")
            paths.append(path)
    paths += sorted((REPO / "jenkins/vars").glob("*.groovy"))
    done = subprocess.run(
        [tool("groovy"), str(PARSER), *map(str, paths)],
        env=java_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok ") == len(paths)


def test_parser_rejects_broken_groovy(tmp_path: Path) -> None:
    broken = tmp_path / "Jenkinsfile"
    broken.write_text(_jenkinsfile("quickstart").replace("stages {", "stages {{", 1))
    done = subprocess.run(
        [tool("groovy"), str(PARSER), str(broken)],
        env=java_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1 and "FAIL" in done.stderr


def test_fan_out_becomes_parallel_and_needs_travel_to_the_library() -> None:
    text = _jenkinsfile("quickstart")
    parallel = text[text.index("parallel {") : text.index("stage('train')")]
    assert "stage('features')" in parallel and "stage('stats')" in parallel
    assert (
        "lockgateStage(name: 'train', needs: ['features', 'stats'], image: env.LOCKGATE_IMAGE)"
        in text
    )
    order = [m for m in re.findall(r"stage\('([a-z0-9-]+)'\)", text)]
    assert order == [
        "lockgate--image",
        "prepare",
        "lockgate--level-1",
        "features",
        "stats",
        "train",
        "report",
    ]


def test_gates_have_submitters_locks_and_timeouts() -> None:
    text = _jenkinsfile("gated")
    production = text[text.index("stage('deploy-production')") :]
    assert "submitter 'alice,bob,carol,dave'" in production  # groups expanded, in order
    assert "lock(resource: 'lockgate-production')" in production
    assert "timeout(time: 72, unit: 'HOURS')" in production
    assert "requiredApprovals: 2, fourEyes: true" in production
    assert "triggers {\n        cron('TZ=UTC' + '\\n' + '0 3 * * 1')" in text
    assert "expression { params.LOCKGATE_EVENT == 'data-update' }" in text


def test_gpu_stages_get_agent_labels() -> None:
    text = _jenkinsfile("gpu")
    train = text[text.index("stage('train')") : text.index("stage('train-large')")]
    assert "agent { label 'linux && gpu' }" in train and "gpu: true" in train
    assert "agent { label 'arc-gpu-h100' }" in text
    assert "agent { label 'linux && cpu-large' }" in text


def test_shell_mode_has_no_image_stage() -> None:
    text = _jenkinsfile("quickstart", build_image=False)
    assert "lockgateImage" not in text and "image:" not in text


@pytest.mark.parametrize(
    ("author", "four_eyes", "expected"),
    [
        ("", "true", "refused: lockgate gate production: four-eyes is on but this build does not"),
        ("bob", "true", "passed"),
        ("alice", "true", "refused: lockgate gate production: alice authored this change"),
        ("", "false", "passed"),
    ],
)
def test_four_eyes_is_never_silently_skipped(author: str, four_eyes: str, expected: str) -> None:
    """lockgateGate run by Groovy itself; only Jenkins' steps are stand-ins (run_gate.groovy),
    since no Jenkins controller can run here. alice approves; the author varies."""
    done = subprocess.run(
        [tool("groovy"), str(Path(__file__).parent / "run_gate.groovy"),
         str(REPO / "jenkins/vars/lockgateGate.groovy"), author, four_eyes, "alice"],
        env=java_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith(expected), done.stdout


def test_library_is_pinned_to_this_release() -> None:
    import lockgate

    text = _jenkinsfile("gated")
    assert f"@Library('lockgate@v{lockgate.__version__}') _" in text


def test_zero_required_approvals_asks_nobody() -> None:
    """Regression: ``requiredApprovals ?: 1`` turned 0 into 1 (Groovy's Elvis treats 0 as
    false), and the generated stage waited on an ``input`` although the spec asked for none."""
    done = subprocess.run(
        [tool("groovy"), str(Path(__file__).parent / "run_gate.groovy"),
         str(REPO / "jenkins/vars/lockgateGate.groovy"), "", "false", "", "0"],
        env=java_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines == ["echo: lockgate gate production: no approval required", "passed"]
    text = _jenkinsfile("reserved-names")
    deploy = text[text.index("stage('deploy')") :]
    assert "input {" not in deploy and "lockgateGate" not in deploy
    assert "lock(resource: 'lockgate-review')" in deploy
    gated = _jenkinsfile("gated")  # staging requires no approval, production two
    assert gated.count("input {") == gated.count("lockgateGate(") == 1
    assert gated.index("input {") > gated.index("stage('deploy-production')")


def test_stage_names_are_unique_and_four_eyes_asks_for_the_author() -> None:
    """Regression: a stage named ``lockgate-1`` met the wrapper of level 1's parallel stages,
    which had the same name; deploy builds had no place to say who authored the change."""
    for example in EXAMPLE_NAMES:
        names = re.findall(r"stage\('([^']+)'\)", _jenkinsfile(example))
        assert len(names) == len(set(names)), (example, names)
    text = _jenkinsfile("level-names")
    assert "stage('lockgate--level-1')" in text and "stage('lockgate-1')" in text
    assert "string(name: 'LOCKGATE_CHANGE_AUTHOR'" in text
    assert "LOCKGATE_CHANGE_AUTHOR" not in _jenkinsfile("quickstart")
