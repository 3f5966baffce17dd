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

import hashlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

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


def builder_image(client: Any, base: str, wheel_dir: Path) -> str:
    if not any(wheel_dir.glob("*.whl")):
        wheel_dir.mkdir(parents=True, exist_ok=True)
        download = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(wheel_dir)]
        subprocess.run(
            [*download, "--disable-pip-version-check", *BUILDER_WHEELS],
            check=True,
            capture_output=True,
            timeout=600,
        )
    dockerfile = BUILDER_DOCKERFILE.format(base=base)
    return _build(client, "lockgate-test/ci-builder", dockerfile, {"wheels": wheel_dir})
