"""The shipped include file, as GitLab merges it: a project that includes
gitlab-templates/lockgate.yml picks the image job's Docker engine service through a variable,
as it picks the builder image, and the merged job keeps the service's ``docker`` alias that
``DOCKER_HOST`` names. gitlab-ci-local resolves ``include:`` and ``extends:`` (and checks the
result against GitLab's schema); it does not pull the service, so the runner's expansion of the
service name is not exercised here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from generator_examples import REPO

from lockgate.generator.gitlab_templates import TEMPLATE_PATH
from lockgate.generator.public_images import DIND

MIRROR = "mirror.example/library/docker:27-dind"
PIPELINE = f"""\
include:
  - local: {TEMPLATE_PATH}
mirrored-image:
  extends: .lockgate-image
  variables:
    LOCKGATE_DIND_IMAGE: {MIRROR}
default-image:
  extends: .lockgate-image
"""


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory, gitlab_ci_local_bin: Path) -> dict:
    """gitlab-ci-local's merged view of the pipeline, read (never changed) by each test."""
    repo = tmp_path_factory.mktemp("templates") / "repo"
    (repo / TEMPLATE_PATH).parent.mkdir(parents=True)
    (repo / TEMPLATE_PATH).write_text((REPO / TEMPLATE_PATH).read_text())
    (repo / ".gitlab-ci.yml").write_text(PIPELINE)
    git = ["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "pipeline"], check=True)
    done = subprocess.run(
        [str(gitlab_ci_local_bin), "--preview"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    preview = done.stdout[done.stdout.index("---\n") :]
    return yaml.safe_load(preview)


def test_a_job_extending_the_image_job_overrides_the_docker_engine_service(merged: dict) -> None:
    job = merged["mirrored-image"]
    assert job["services"] == [{"name": "$LOCKGATE_DIND_IMAGE", "alias": "docker"}]
    assert job["variables"]["LOCKGATE_DIND_IMAGE"] == MIRROR
    assert job["variables"]["DOCKER_HOST"] == "tcp://docker:2375"


def test_without_an_override_the_service_is_the_public_default(merged: dict) -> None:
    job = merged["default-image"]
    assert job["services"] == [{"name": "$LOCKGATE_DIND_IMAGE", "alias": "docker"}]
    assert job["variables"]["LOCKGATE_DIND_IMAGE"] == DIND.image
