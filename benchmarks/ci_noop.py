"""A no-op CI pipeline: the generated GitLab pipeline of pipelines/quickstart run again when
nothing changed, in gitlab-ci-local with every job in a container, against a token-auth registry.

The first pipeline builds and pushes the runner image and fills every stage's cache; it is timed
but not part of the comparison. Then rounds alternate:

- **lockgate no-op**: the same pipeline again: the image job finds the image in the registry and
  builds nothing, and every stage job is a cache hit (both checked in each round's log);
- **bare jobs**: the same file with every job's script replaced by `true` (same jobs, same images,
  same artifacts and caches): what gitlab-ci-local and the containers cost by themselves.

The difference is what lockgate adds to a pipeline that has nothing to do. The job images are
built locally (no public registry is reachable here), and jobs share the host's engine through
its socket, as in tests/generator/test_gitlab_docker_executor.py.

The result goes to benchmarks/results/ci_noop.json (machine, versions, load average, every run,
each job's time in the last round) and docs are generated from it (``python -m
benchmarks.published``).

Usage: python -m benchmarks.ci_noop [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

STAGES = ("prepare", "stats", "features", "fit", "report")
DOTENV = ".gitlab-ci-local/artifacts/lockgate--image/.gitlab-ci-reports/dotenv/lockgate-image.env"


def _timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    log = done.stdout + done.stderr
    if done.returncode != 0:
        raise SystemExit(f"pipeline failed in {cwd}:\n{log[-4000:]}")
    return seconds, log


def _job_seconds(log: str) -> dict[str, float]:
    """Each job's own time as gitlab-ci-local reports it (`JOB finished in 1.2 s` / `1.1 min`)."""
    found: dict[str, float] = {}
    for job, value, unit in re.findall(r"^(\S+)\s+finished in ([0-9.]+) (ms|s|min)$", log, re.M):
        found[job] = round(float(value) * {"ms": 0.001, "s": 1.0, "min": 60.0}[unit], 2)
    return found


def _check_noop(log: str) -> None:
    if "holds this recipe's image; nothing to build" not in log:
        raise SystemExit("the image job did not find the image in the registry:\n" + log[-3000:])
    for stage in STAGES:
        if not re.search(rf"lockgate-{stage}\s+> . {stage} cached", log):
            raise SystemExit(f"stage {stage} was not a cache hit:\n{log[-3000:]}")


def _bare(repo: Path, folder: Path) -> Path:
    """A copy of ``repo`` whose jobs all run ``true``."""
    bare = folder / "bare"
    subprocess.run(["git", "clone", "-q", str(repo), str(bare)], check=True)
    yaml = YAML()
    doc = yaml.load((bare / ".gitlab-ci.yml").read_text())
    for job in doc.values():
        if isinstance(job, dict) and "script" in job:
            job.pop("before_script", None)
            job["script"] = ["true"]
    with (bare / ".gitlab-ci.yml").open("w") as handle:
        yaml.dump(doc, handle)
    git = ["git", "-C", str(bare), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run([*git, "commit", "-qam", "bare jobs"], check=True)
    return bare


def main() -> None:
    import docker

    from benchmarks import result_file
    from lockgate.supply.docker_config import store_credentials
    from tests.generator import gitlab_docker_rig as rig
    from tests.projects import QUICKSTART

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tools = Path(os.environ.get("LOCKGATE_TOOLS_DIR", "/usr/local/lib/lockgate-tools"))
    gcl = str(tools / "node/node_modules/.bin/gitlab-ci-local")
    client = docker.from_env()
    base = "lockgate/debian:bookworm"
    load_before = result_file.load()
    with tempfile.TemporaryDirectory(prefix="lockgate-ci-noop-") as tmp:
        folder = Path(tmp)
        helper = rig.helper_image(client, base)
        builder = rig.builder_image(client, base)
        with rig.token_registry(folder / "registry") as registry:
            repo = rig.pipeline_repository(folder, QUICKSTART)
            config = folder / "docker-config"
            store_credentials(registry.host, rig.USER, rig.PASSWORD, config / "config.json")
            env = {**os.environ, "DOCKER_CONFIG": str(config)}
            secret = {"QUICKSTART_SIGNING_KEY": "benchmark-signing-key"}
            argv = rig.pipeline_argv(gcl, registry, builder, helper, secret)
            first, _ = _timed(argv, repo, env)
            image = (repo / DOTENV).read_text().strip().split("=", 1)[1]
            bare = _bare(repo, folder)
            bare_argv = [*argv, "--variable", f"LOCKGATE_IMAGE={image}"]
            noop: list[float] = []
            plain: list[float] = []
            for _ in range(args.rounds):
                seconds, log = _timed(argv, repo, env)
                _check_noop(log)
                noop.append(round(seconds, 2))
                seconds, bare_log = _timed(bare_argv, bare, env)
                plain.append(round(seconds, 2))
            jobs = {"noop": _job_seconds(log), "bare_jobs": _job_seconds(bare_log)}
            rig.forget_tags(client, registry.host)
    result = {
        "pipeline": "generated GitLab pipeline of pipelines/quickstart, 5 stages",
        "runner": "gitlab-ci-local, docker executor, host engine socket, host network",
        "registry": "docker-registry, TLS, token auth",
        "first_pipeline_s": round(first, 2),
        "noop_s": noop,
        "noop_median_s": statistics.median(noop),
        "bare_jobs_s": plain,
        "bare_jobs_median_s": statistics.median(plain),
        "lockgate_added_median_s": round(statistics.median(noop) - statistics.median(plain), 2),
        "job_seconds_last_round": jobs,
        "rounds": args.rounds,
        "load_average_before": load_before,
        "load_average_after": result_file.load(),
        "tools": _tool_versions(client, gcl),
    }
    path = result_file.write("ci_noop", result, packages=("docker",))
    print(path.read_text())


def _tool_versions(client: Any, gcl: str) -> dict[str, str]:
    """The runner, engine and registry versions: each sets part of a job's cost."""

    def first_line(argv: list[str]) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        return done.stdout.strip().splitlines()[0] if done.stdout.strip() else "unknown"

    registry = first_line(["docker-registry", "--version"]).split()[-1]
    return {
        "gitlab-ci-local": first_line([gcl, "--version"]),
        "docker engine": str(client.version().get("Version", "unknown")),
        "docker-registry": registry,
    }


if __name__ == "__main__":
    main()
