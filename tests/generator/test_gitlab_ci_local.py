"""The generated .gitlab-ci.yml (shell-runner mode) executed for real by gitlab-ci-local.

The first test puts a recording stand-in for `lockgate` on PATH, to assert precisely which
stage each job ran and what it saw; the second runs the real lockgate CLI in every job on the
quickstart pipeline and compares the pipeline's final outputs with a local `lockgate run`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lockgate.generator.render import render_files

SPEC = """\
version: 1
name: quickstart
image: {base: lockgate/debian:bookworm}
environments:
  - name: staging
    approvers: [rita]
    required_approvals: 1
stages:
  prepare: {run: [python, prepare.py]}
  features: {run: [python, features.py], needs: [prepare]}
  stats: {run: [python, stats.py], needs: [prepare]}
  train: {run: [python, train.py], needs: [features, stats]}
  report: {run: [python, report.py], needs: [train]}
  promote: {run: [python, promote.py], needs: [report], environment: staging, cache: false}
"""
NEEDS = {
    "prepare": [],
    "features": ["prepare"],
    "stats": ["prepare"],
    "train": ["features", "stats"],
    "report": ["train"],
    "promote": ["report"],
}
STAND_IN = """\
#!{python}
import json, os, pathlib, sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:1] == ["run"]:
    opts = dict(zip(args[1:], args[2:]))
    stage = opts["--stage"]
    upstream = pathlib.Path(opts["--upstream-dir"])
    export = pathlib.Path(opts["--export-dir"]) / stage
    seen = {{p.parent.name: json.loads(p.read_text()) for p in upstream.glob("*/out.json")}}
    export.mkdir(parents=True, exist_ok=True)
    (export / "out.json").write_text(json.dumps({{"stage": stage, "saw": sorted(seen)}}))
    (export / "report.md").write_text("# " + stage + "\\n")
    cache = pathlib.Path(".lockgate/cache")
    cache.mkdir(parents=True, exist_ok=True)
    (cache / stage).write_text(stage)
"""


@pytest.fixture
def gitlab_ci_local(gitlab_ci_local_bin: Path, request: pytest.FixtureRequest) -> str:
    from tests.conftest import unavailable

    if shutil.which("rsync") is None:
        unavailable(request.config, "gitlab-ci-local needs rsync (apt-get install rsync)")
    return str(gitlab_ci_local_bin)


@pytest.fixture
def ci_repo(tmp_path: Path, gitlab_ci_local: str) -> tuple[Path, Path, dict[str, str]]:
    repo, bin_dir, log = tmp_path / "repo", tmp_path / "bin", tmp_path / "argv.jsonl"
    repo.mkdir()
    bin_dir.mkdir()
    stand_in = bin_dir / "lockgate"
    stand_in.write_text(STAND_IN.format(python=sys.executable, log=str(log)))
    stand_in.chmod(0o755)
    (repo / "lockgate.yaml").write_text(SPEC)
    for rendered in render_files(
        provider="gitlab", spec=repo / "lockgate.yaml", root=repo, build_image=False
    ):
        (repo / rendered.path).write_text(rendered.text)
    git = ["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "pipeline"], check=True)
    env = {
        **os.environ,
        "PATH": os.pathsep.join(
            [str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]]
        ),
        "LOCKGATE_GCL": gitlab_ci_local,
    }
    return repo, log, env


def _pipeline(repo: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [env["LOCKGATE_GCL"], "--shell-isolation", "--variable", "CI_PIPELINE_SOURCE=push", *extra],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _runs(log: Path) -> list[str]:
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [c[c.index("--stage") + 1] for c in calls if c[:1] == ["run"]]


def test_jobs_run_in_dag_order_artifacts_flow_and_the_gate_waits(ci_repo) -> None:
    repo, log, env = ci_repo
    done = _pipeline(repo, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    order = _runs(log)
    assert sorted(order) == sorted(set(NEEDS) - {"promote"}), "the manual gate ran unasked"
    for stage, needs in NEEDS.items():
        if stage == "promote":
            continue
        for need in needs:
            assert order.index(need) < order.index(stage), order
        artifact = repo / ".gitlab-ci-local/artifacts" / f"lockgate-{stage}/.lockgate/out" / stage
        produced = json.loads((artifact / "out.json").read_text())
        assert produced["saw"] == sorted(needs), f"{stage} saw {produced['saw']}, needs {needs}"
        assert (artifact / "report.md").read_text() == f"# {stage}\n"

    log.unlink()
    done = _pipeline(repo, env, "--manual", "lockgate-promote")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert _runs(log)[-1] == "promote"
    promoted = repo / ".gitlab-ci-local/artifacts/lockgate-promote/.lockgate/out/promote/out.json"
    assert json.loads(promoted.read_text())["saw"] == ["report"]


def test_real_pipeline_outputs_equal_a_local_run(tmp_path: Path, gitlab_ci_local: str) -> None:
    from tests.projects import QUICKSTART, REPO_ROOT, lockgate

    key = {"QUICKSTART_SIGNING_KEY": "gitlab-ci-local-key-42"}
    local = tmp_path / "local"
    shutil.copytree(QUICKSTART, local, ignore=shutil.ignore_patterns(".lockgate"))
    done_local = lockgate(
        "run", "--executor", "local", "--export-dir", "export", cwd=local, env=key
    )
    assert done_local.code == 0, done_local.stderr

    repo, bin_dir = tmp_path / "repo", tmp_path / "bin"
    shutil.copytree(QUICKSTART, repo, ignore=shutil.ignore_patterns(".lockgate"))
    bin_dir.mkdir()
    real = bin_dir / "lockgate"  # the real CLI from this checkout, as an installed one would be
    real.write_text(f'#!/bin/sh\nPYTHONPATH={REPO_ROOT} exec {sys.executable} -m lockgate "$@"\n')
    real.chmod(0o755)
    for rendered in render_files(
        provider="gitlab", spec=repo / "lockgate.yaml", root=repo, build_image=False
    ):
        (repo / rendered.path).write_text(rendered.text)
    git = ["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "pipeline"], check=True)
    env = {
        **os.environ,
        **key,
        "PATH": os.pathsep.join(
            [str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]]
        ),
        "LOCKGATE_GCL": gitlab_ci_local,
    }
    done = _pipeline(repo, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "gitlab-ci-local-key-42" not in done.stdout + done.stderr
    artifacts = repo / ".gitlab-ci-local" / "artifacts"
    for stage in ("prepare", "stats", "features", "fit", "report"):
        ci_out = artifacts / f"lockgate-{stage}" / ".lockgate" / "out" / stage
        local_out = local / "export" / stage
        files = sorted(p.relative_to(local_out) for p in local_out.rglob("*") if p.is_file())
        assert files, stage
        for rel in files:
            assert (ci_out / rel).read_bytes() == (local_out / rel).read_bytes(), (stage, rel)
