"""Import a root filesystem tarball into a container engine as a tagged image.

Through the ``docker`` Python package when it is installed (Docker, or Podman's Docker-compatible
socket), otherwise through the ``docker`` command line. Both end in the engine's image import,
the same operation as ``docker import``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lockgate.errors import ExecutorUnavailable, LockgateError


def image_changes(labels: Mapping[str, str], env: Mapping[str, str]) -> list[str]:
    """Dockerfile instructions applied on import: labels, environment and a default command."""
    changes = [f"LABEL {json.dumps(key)}={json.dumps(value)}" for key, value in labels.items()]
    changes += [f"ENV {key}={value}" for key, value in env.items()]
    changes.append('CMD ["bash"]')
    return changes


def split_tag(tag: str) -> tuple[str, str]:
    """``host:5000/name:tag`` -> (``host:5000/name``, ``tag``); the tag defaults to latest."""
    name, sep, version = tag.rpartition(":")
    if not sep or "/" in version:
        return tag, "latest"
    return name, version


def engine_client() -> Any | None:
    """A connected ``docker`` client, or None when the package is not installed.

    Raises ExecutorUnavailable when the package is there but no engine answers.
    """
    try:
        import docker  # heavy: only when an image is imported
    except ImportError:
        return None
    missing = _missing_unix_socket()
    if missing is not None:
        # checked here: the docker package leaks a socket when it cannot connect to a path
        raise _no_engine(f"{missing} does not exist")
    try:
        client = docker.from_env()
    except docker.errors.DockerException as error:
        raise _no_engine(str(error)) from error
    try:
        client.ping()
    except docker.errors.DockerException as error:
        client.close()
        raise _no_engine(str(error)) from error
    return client


def import_rootfs(tarball: Path, tag: str, changes: Sequence[str], client: Any | None) -> str:
    """Import ``tarball`` as ``tag`` and return the new image's id (``sha256:...``)."""
    if client is not None:
        return _import_with_sdk(tarball, tag, changes, client)
    return _import_with_cli(tarball, tag, changes)


def _import_with_sdk(tarball: Path, tag: str, changes: Sequence[str], client: Any) -> str:
    repository, version = split_tag(tag)
    answer = client.api.import_image_from_file(
        str(tarball), repository=repository, tag=version, changes=list(changes)
    )
    for line in str(answer).splitlines():
        message = json.loads(line) if line.strip().startswith("{") else {}
        if "error" in message:
            raise LockgateError(
                f"the engine refused to import {tarball} as {tag}: {message['error']}"
            )
    return str(client.images.get(tag).id)


def _import_with_cli(tarball: Path, tag: str, changes: Sequence[str]) -> str:
    cli = shutil.which("docker")
    if cli is None:
        raise _no_engine("neither the docker Python package nor the docker command is installed")
    probe = subprocess.run(
        [cli, "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        raise _no_engine(probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "")
    argv = [cli, "import"]
    for change in changes:
        argv += ["--change", change]
    done = subprocess.run([*argv, str(tarball), tag], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LockgateError(f"docker import of {tarball} as {tag} failed: {done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1]


def _missing_unix_socket() -> str | None:
    """The engine's unix socket path when DOCKER_HOST names one that does not exist."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if not host.startswith("unix://"):
        return None
    path = host[len("unix://") :]
    return None if Path(path).exists() else path


def _no_engine(detail: str) -> ExecutorUnavailable:
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return ExecutorUnavailable(
        f"no container engine answers at {where} ({detail}): start dockerd "
        "(scripts/setup-test-env does), Docker Desktop, or Podman's socket and set DOCKER_HOST"
    )
