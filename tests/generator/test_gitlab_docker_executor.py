"""The generated .gitlab-ci.yml for pipelines/quickstart, image job included, run by
gitlab-ci-local with every job in a container (docker executor) against a token-auth registry 2.8.

- the image job installs lockgate from the checkout (``--install ./lockgate-src``), stores the
  registry credentials with ``lockgate ci login`` (no docker CLI in the job image), finds nothing
  in the registry, builds the runner image and pushes it; its dotenv output is ``REF@sha256:``;
- every stage job then runs in that image, by digest;
- a second pipeline finds the image in the registry and builds nothing;
- the stage outputs equal, byte for byte, those of a local ``lockgate run`` on the same image.

Stand-ins, because this machine reaches no public registry: the job images are built here from
the OS archive (see gitlab_docker_rig.py) and named through ``LOCKGATE_BUILDER_IMAGE``, the
variable a site with a registry mirror sets. The jobs share the host's engine through its socket
(GitLab's "socket binding") instead of a ``docker:dind`` service, so the one edit made to the
generated file removes ``services:``; the jobs use the host network so that the registry on
loopback is the same address for the engine and for the jobs. The engine is shared with other
work, so it may hold more images than the pipeline builds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.supply.docker_config import store_credentials
from tests.generator.gitlab_docker_rig import (
    PASSWORD,
    USER,
    builder_image,
    forget_tags,
    helper_image,
    pipeline_argv,
    pipeline_repository,
    token_registry,
)
from tests.supply.conftest import _need_registry
from tests.supply.registry_server import RegistryServer

pytestmark = [pytest.mark.slow, pytest.mark.docker]

SIGNING_KEY = "gitlab-docker-executor-key-17"
STAGES = ("prepare", "stats", "features", "fit", "report")
DIGEST_REF = re.compile(r"^LOCKGATE_IMAGE=(\S+@sha256:[0-9a-f]{64})$", re.M)
DOTENV = ".gitlab-ci-local/artifacts/lockgate--image/.gitlab-ci-reports/dotenv/lockgate-image.env"


@pytest.fixture(scope="module")
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, docker_client: Any
) -> Iterator[RegistryServer]:
    _need_registry(request.config)
    with token_registry(tmp_path_factory.mktemp("gitlab-registry")) as server:
        yield server
    forget_tags(docker_client, server.host)  # the pushed runner image's tag in the shared engine


def _pipeline(argv: list[str], repo: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        argv, cwd=repo, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    assert SIGNING_KEY not in log and PASSWORD not in log
    return log


def test_generated_pipeline_runs_in_containers_by_digest_and_equals_a_local_run(
    tmp_path: Path, gitlab_ci_local_bin: Path, docker_client: Any, base_image: str, registry
) -> None:
    from tests.projects import QUICKSTART, lockgate

    helper = helper_image(docker_client, base_image)
    builder = builder_image(docker_client, base_image)
    repo = pipeline_repository(tmp_path, QUICKSTART)
    docker_config = tmp_path / "docker-config"  # the host CLI pulls as the runner would
    store_credentials(registry.host, USER, PASSWORD, docker_config / "config.json")
    env = {**os.environ, "DOCKER_CONFIG": str(docker_config)}
    secret = {"QUICKSTART_SIGNING_KEY": SIGNING_KEY}
    argv = pipeline_argv(str(gitlab_ci_local_bin), registry, builder, helper, secret)

    log = _pipeline(argv, repo, env)
    match = DIGEST_REF.search((repo / DOTENV).read_text())
    assert match, (repo / DOTENV).read_text()
    image = match[1]
    assert image.startswith(f"{registry.host}/team/project/runner@sha256:")
    assert "nothing to build" not in log
    for stage in STAGES:  # every stage job ran in the pushed image, by digest
        assert re.search(rf"lockgate-{stage}\s+starting {re.escape(image)} ", log), stage

    log = _pipeline(argv, repo, env)
    assert "holds this recipe's image; nothing to build" in log
    assert "building runner image" not in log
    again = DIGEST_REF.search((repo / DOTENV).read_text())
    assert again and again[1] == image
    for stage in STAGES:  # and every stage was a cache hit: nothing ran again
        assert re.search(rf"lockgate-{stage}\s+> . {stage} cached", log), stage

    local = tmp_path / "local"
    shutil.copytree(repo, local, ignore=shutil.ignore_patterns(".lockgate", ".gitlab-ci-local"))
    done = lockgate("run", "--executor", "docker", "--export-dir", "export", cwd=local, env=secret)
    assert done.code == 0, done.stderr[-3000:]
    artifacts = repo / ".gitlab-ci-local" / "artifacts"
    for stage in STAGES:
        ci_out = artifacts / f"lockgate-{stage}" / ".lockgate" / "out" / stage
        local_out = local / "export" / stage
        files = sorted(p.relative_to(local_out) for p in local_out.rglob("*") if p.is_file())
        assert files, stage
        for rel in files:
            assert (ci_out / rel).read_bytes() == (local_out / rel).read_bytes(), (stage, rel)
