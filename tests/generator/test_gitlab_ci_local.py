"""The generated .gitlab-ci.yml (shell-runner mode) executed for real by gitlab-ci-local.

The `lockgate` command the jobs call is a stand-in here: the engine's CLI is not on this branch
yet. The stand-in records its argv, reads the upstream folders under --upstream-dir, and writes
an output, a report.md and a cache entry under --export-dir/.lockgate/cache, as the engine does.
Swap it for the real CLI (and compare with a local `lockgate run`) once the engine lands.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lockgate.generator.cli import render_files

GITLAB_CI_LOCAL = os.environ.get(
    "LOCKGATE_GITLAB_CI_LOCAL", "/opt/lockgate-tools/node_modules/.bin/gitlab-ci-local"
)
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
def ci_repo(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    if not Path(GITLAB_CI_LOCAL).exists():
        pytest.skip(
            f"gitlab-ci-local not found at {GITLAB_CI_LOCAL} (npm install gitlab-ci-local@4.65.1)"
        )
    if shutil.which("rsync") is None:
        pytest.skip("gitlab-ci-local needs rsync (apt-get install rsync)")
    repo, bin_dir, log = tmp_path / "repo", tmp_path / "bin", tmp_path / "argv.jsonl"
    repo.mkdir()
    bin_dir.mkdir()
    stand_in = bin_dir / "lockgate"
    stand_in.write_text(STAND_IN.format(python=shutil.which("python3"), log=str(log)))
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
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return repo, log, env


def _pipeline(repo: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GITLAB_CI_LOCAL, "--shell-isolation", "--variable", "CI_PIPELINE_SOURCE=push", *extra],
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
