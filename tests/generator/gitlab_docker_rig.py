"""What a GitLab runner with the docker executor finds on a real site, built here from the OS
archive because no public registry can be reached from this machine:

- the helper image gitlab-ci-local copies sources and artifacts with (bookworm + rsync + git);
- the image job's builder image (``LOCKGATE_BUILDER_IMAGE``): Python 3.11 in a virtual
  environment, as ``python:3.11-slim-bookworm`` offers it, with a local package mirror
  (``PIP_FIND_LINKS``) holding the wheels lockgate and its build backend need, since pip inside a
  container cannot reach a package index here;
- a token-auth registry 2.8 with the test token server, on loopback with TLS.

Both images are tagged by a digest of their recipe, so they are built once per machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.supply.registry_server import RegistryServer, free_port, make_tls_material
from tests.supply.token_server import ACCOUNTS, ISSUER, SERVICE, TokenServer, make_signing_cert

REPO_ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "lockgate", ACCOUNTS["lockgate"][0]
CA_IN_JOB = "/etc/lockgate-test/registry-ca.pem"

HELPER_DOCKERFILE = """\
FROM {base}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \\
    --no-install-recommends rsync git && rm -rf /var/lib/apt/lists/*
"""
BUILDER_DOCKERFILE = """\
FROM {base}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \\
    --no-install-recommends python3-venv && rm -rf /var/lib/apt/lists/*
COPY wheels /opt/wheels
RUN python3 -m venv /opt/python
ENV PATH=/opt/python/bin:$PATH PIP_NO_INDEX=1 PIP_FIND_LINKS=/opt/wheels \\
    PIP_DISABLE_PIP_VERSION_CHECK=1
"""
# What `pip install ./lockgate-src[docker]` needs in the job, build backend included.
BUILDER_WHEELS = (
    "hatchling",
    "pydantic>=2.6,<3",
    "PyYAML>=6.0",
    "ruamel.yaml>=0.18",
    "rich>=13",
    "docker>=7.0",
)


def _build(client: Any, tag_name: str, dockerfile: str, files: dict[str, Path]) -> str:
    """Build ``dockerfile`` with ``files`` (name -> folder) as context, tagged by its digest."""
    digest = hashlib.sha256(dockerfile.encode())
    for name in sorted(files):
        for path in sorted(files[name].rglob("*")):
            digest.update(f"{name}/{path.relative_to(files[name])}".encode())
    tag = f"{tag_name}:{digest.hexdigest()[:16]}"
    if client.images.list(name=tag):
        return tag
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for name, folder in files.items():
            tar.add(str(folder), arcname=name)
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True)
    return tag


def helper_image(client: Any, base: str) -> str:
    return _build(client, "lockgate-test/gcl-helper", HELPER_DOCKERFILE.format(base=base), {})


def builder_image(client: Any, base: str, wheel_cache: Path | None = None) -> str:
    """The builder image; its wheels are fetched once per machine into lockgate's wheel cache
    (as a runner image's are), not again by every session."""
    from lockgate.images.wheels import cached_wheels

    cache = wheel_cache or Path.home() / ".cache" / "lockgate" / "wheels"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    key = hashlib.sha256(repr(("ci-builder", python, BUILDER_WHEELS)).encode()).hexdigest()[:16]
    download = ["download", "--quiet", "--disable-pip-version-check", *BUILDER_WHEELS]
    wheel_dir = cached_wheels(cache, key, lambda dest: [[*download, "--dest", str(dest)]])
    dockerfile = BUILDER_DOCKERFILE.format(base=base)
    return _build(client, "lockgate-test/ci-builder", dockerfile, {"wheels": wheel_dir})


@contextmanager
def token_registry(root: Path) -> Iterator[RegistryServer]:
    """A registry 2.8 on loopback with TLS and ``auth: token`` against the test token server."""
    ca, cert, key, _ = make_tls_material(root / "certs")
    signing_key, signing_cert = make_signing_cert(root / "signer")
    tokens = TokenServer(signing_key, signing_cert, cert, key).start()
    token_auth = (tokens.realm, SERVICE, ISSUER, signing_cert)
    server = RegistryServer(root, free_port(), tls=(ca, cert, key, ca), token_auth=token_auth)
    try:
        yield server.start()
    finally:
        server.stop()
        tokens.stop()


def pipeline_repository(folder: Path, project: Path) -> Path:
    """A git repository holding ``project`` and lockgate's checkout (``lockgate-src/``), with
    the generated .gitlab-ci.yml installing lockgate from that checkout. The one edit to the
    generated file: no ``services:`` (the jobs get the host engine's socket instead of dind)."""
    from lockgate.generator.render import render_files

    repo = folder / "repo"
    shutil.copytree(project, repo, ignore=shutil.ignore_patterns(".lockgate"))
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
    del doc[".lockgate-image"]["services"]
    with (repo / rendered.path).open("w") as handle:
        yaml.dump(doc, handle)
    git = ["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "pipeline"], check=True)
    return repo


def pipeline_argv(
    gcl: str, registry: RegistryServer, builder: str, helper: str, variables: dict[str, str]
) -> list[str]:
    """gitlab-ci-local with the docker executor, as a GitLab runner with socket binding."""
    assert registry.tls is not None
    variables = {
        "CI_PIPELINE_SOURCE": "push",
        "CI_REGISTRY": registry.host,
        "CI_REGISTRY_IMAGE": f"{registry.host}/team/project",
        "CI_REGISTRY_USER": USER,
        "CI_REGISTRY_PASSWORD": PASSWORD,
        "DOCKER_HOST": "unix:///var/run/docker.sock",
        "SSL_CERT_FILE": CA_IN_JOB,
        "LOCKGATE_BUILDER_IMAGE": builder,
        **variables,
    }
    argv = [gcl, "--helper-image", helper, "--network", "host", "--pull-policy", "if-not-present"]
    argv += ["--volume", "/var/run/docker.sock:/var/run/docker.sock"]
    argv += ["--volume", f"{registry.tls[0]}:{CA_IN_JOB}:ro"]
    for name, value in variables.items():
        argv += ["--variable", f"{name}={value}"]
    return argv


def forget_tags(client: Any, host: str) -> None:
    """Remove the engine's tags for ``host`` (the pushed runner image), not the image layers."""
    import docker.errors

    for image in client.images.list():
        for tag in image.tags:
            if tag.startswith(f"{host}/"):
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(tag)
