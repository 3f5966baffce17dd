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
from ruamel.yaml import YAML

from lockgate.commands.generate import render_files
from lockgate.supply.docker_config import store_credentials
from tests.generator.gitlab_docker_rig import builder_image, helper_image
from tests.supply.conftest import _need_registry
from tests.supply.registry_server import RegistryServer, free_port, make_tls_material
from tests.supply.token_server import ACCOUNTS, ISSUER, SERVICE, TokenServer, make_signing_cert

pytestmark = [pytest.mark.slow, pytest.mark.docker]

USER, PASSWORD = "lockgate", ACCOUNTS["lockgate"][0]
SIGNING_KEY = "gitlab-docker-executor-key-17"
STAGES = ("prepare", "stats", "features", "fit", "report")
CA_IN_JOB = "/etc/lockgate-test/registry-ca.pem"
DIGEST_REF = re.compile(r"^LOCKGATE_IMAGE=(\S+@sha256:[0-9a-f]{64})$", re.M)


@pytest.fixture(scope="module")
def token_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryServer]:
    _need_registry(request.config)
    root = tmp_path_factory.mktemp("gitlab-registry")
    ca, cert, key, _ = make_tls_material(root / "certs")
    signing_key, signing_cert = make_signing_cert(root / "signer")
    tokens = TokenServer(signing_key, signing_cert, cert, key).start()
    server = RegistryServer(
        root,
        free_port(),
        tls=(ca, cert, key, ca),
        token_auth=(tokens.realm, SERVICE, ISSUER, signing_cert),
    ).start()
    yield server
    server.stop()
    tokens.stop()


def _repository(tmp_path: Path) -> Path:
    from tests.projects import QUICKSTART, REPO_ROOT

    repo = tmp_path / "repo"
    shutil.copytree(QUICKSTART, repo, ignore=shutil.ignore_patterns(".lockgate"))
    source = repo / "lockgate-src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(
        REPO_ROOT / "lockgate",
        source / "lockgate",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    (rendered,) = render_files(
        provider="gitlab", spec=repo / "lockgate.yaml", root=repo, install="./lockgate-src"
    )
    yaml = YAML()
    doc = yaml.load(rendered.text)
    del doc[".lockgate-image"]["services"]  # the host engine's socket stands in for dind
    with (repo / rendered.path).open("w") as handle:
        yaml.dump(doc, handle)
    git = ["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "pipeline"], check=True)
    return repo


def _pipeline(
    gcl: str, repo: Path, registry: RegistryServer, builder: str, helper: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    assert registry.tls is not None
    variables = {
        "CI_PIPELINE_SOURCE": "push",
        "CI_REGISTRY": registry.host,
        "CI_REGISTRY_IMAGE": f"{registry.host}/team/quickstart",
        "CI_REGISTRY_USER": USER,
        "CI_REGISTRY_PASSWORD": PASSWORD,
        "DOCKER_HOST": "unix:///var/run/docker.sock",
        "SSL_CERT_FILE": CA_IN_JOB,
        "LOCKGATE_BUILDER_IMAGE": builder,
        "QUICKSTART_SIGNING_KEY": SIGNING_KEY,
    }
    argv = [gcl, "--helper-image", helper, "--network", "host", "--pull-policy", "if-not-present"]
    argv += ["--volume", "/var/run/docker.sock:/var/run/docker.sock"]
    argv += ["--volume", f"{registry.tls[0]}:{CA_IN_JOB}:ro"]
    for name, value in variables.items():
        argv += ["--variable", f"{name}={value}"]
    return subprocess.run(
        argv, cwd=repo, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def test_generated_pipeline_runs_in_containers_by_digest_and_equals_a_local_run(
    tmp_path: Path, gitlab_ci_local_bin: Path, docker_client: Any, base_image: str, token_registry
) -> None:
    from tests.projects import lockgate

    helper = helper_image(docker_client, base_image)
    builder = builder_image(docker_client, base_image, tmp_path / "wheels")
    repo = _repository(tmp_path)
    docker_config = tmp_path / "docker-config"
    store_credentials(token_registry.host, USER, PASSWORD, docker_config / "config.json")
    env = {**os.environ, "DOCKER_CONFIG": str(docker_config)}

    first = _pipeline(str(gitlab_ci_local_bin), repo, token_registry, builder, helper, env)
    log = first.stdout + first.stderr
    assert first.returncode == 0, log[-6000:]
    assert SIGNING_KEY not in log and PASSWORD not in log
    dotenv = (
        repo
        / ".gitlab-ci-local/artifacts/lockgate--image/.gitlab-ci-reports/dotenv/lockgate-image.env"
    ).read_text()
    match = DIGEST_REF.search(dotenv)
    assert match, dotenv
    image = match[1]
    assert image.startswith(f"{token_registry.host}/team/quickstart/runner@sha256:")
    assert "nothing to build" not in log
    for stage in STAGES:  # every stage job ran in the pushed image, by digest
        assert re.search(rf"lockgate-{stage}\s+starting {re.escape(image)} ", log), stage

    second = _pipeline(str(gitlab_ci_local_bin), repo, token_registry, builder, helper, env)
    log2 = second.stdout + second.stderr
    assert second.returncode == 0, log2[-6000:]
    assert "holds this recipe's image; nothing to build" in log2
    assert "building runner image" not in log2
    dotenv2 = (
        repo
        / ".gitlab-ci-local/artifacts/lockgate--image/.gitlab-ci-reports/dotenv/lockgate-image.env"
    ).read_text()
    assert DIGEST_REF.search(dotenv2)[1] == image  # type: ignore[index]

    local = tmp_path / "local"
    shutil.copytree(repo, local, ignore=shutil.ignore_patterns(".lockgate", ".gitlab-ci-local"))
    done = lockgate(
        *("run", "--executor", "docker", "--export-dir", "export"),
        cwd=local,
        env={"QUICKSTART_SIGNING_KEY": SIGNING_KEY},
    )
    assert done.code == 0, done.stderr[-3000:]
    artifacts = repo / ".gitlab-ci-local" / "artifacts"
    for stage in STAGES:
        ci_out = artifacts / f"lockgate-{stage}" / ".lockgate" / "out" / stage
        local_out = local / "export" / stage
        files = sorted(p.relative_to(local_out) for p in local_out.rglob("*") if p.is_file())
        assert files, stage
        for rel in files:
            assert (ci_out / rel).read_bytes() == (local_out / rel).read_bytes(), (stage, rel)
