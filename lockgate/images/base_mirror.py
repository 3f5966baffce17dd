"""A ``lockgate/debian:SUITE`` base image in a CI job whose engine starts empty.

lockgate's own bases are made from the OS archive (``lockgate image bootstrap``); no public
registry serves them. In CI the image job keeps one copy next to the runner image, at
``REPO/base-debian:SUITE``: the first pipeline bootstraps it and pushes it there, later ones pull
it (only when the runner image itself has to be built)::

    ensure_base("lockgate/debian:bookworm", "registry.example.com/g/p/runner", client, say)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lockgate.errors import LockgateError

OWN_PREFIX = "lockgate/"


def is_own_base(base: str | None) -> bool:
    return bool(base) and str(base).startswith(OWN_PREFIX)


def mirror_ref(base: str, repository: str) -> str:
    """Where the image job keeps ``base``: ``lockgate/debian:bookworm`` under
    ``REPO`` is ``REPO/base-debian:bookworm``."""
    name, _, tag = base.removeprefix(OWN_PREFIX).partition(":")
    return f"{repository}/base-{name.replace('/', '-')}:{tag or 'latest'}"


def _suite(base: str) -> str:
    name, _, tag = base.removeprefix(OWN_PREFIX).partition(":")
    if name != "debian" or not tag:
        raise LockgateError(
            f"image.base {base!r}: only lockgate/debian:SUITE can be bootstrapped from the OS "
            "archive in CI; push this base to the registry yourself or use a public base"
        )
    return tag


def ensure_base(
    base: str,
    repository: str,
    client: Any,
    say: Callable[[str], None],
    *,
    registry_has: Callable[[str], bool],
) -> str:
    """Make ``base`` exist in the engine behind ``client``; return how: ``present``, ``pulled``
    or ``bootstrapped`` (then also pushed to :func:`mirror_ref`). ``registry_has(ref)`` asks the
    registry whether it holds ``ref``."""
    import docker.errors

    try:
        client.images.get(base)
        return "present"
    except docker.errors.ImageNotFound:
        pass
    mirror = mirror_ref(base, repository)
    mirror_repo, _, mirror_tag = mirror.rpartition(":")
    if registry_has(mirror):
        say(f"lockgate: pulling base image {base} from {mirror}")
        try:
            image = client.images.pull(mirror_repo, tag=mirror_tag)
        except docker.errors.APIError as exc:
            raise LockgateError(f"pull of {mirror} failed: {exc.explanation}") from None
        image.tag(base)
        return "pulled"
    suite = _suite(base)
    say(f"lockgate: {mirror} does not exist; bootstrapping {base} from the OS archive")
    _install_debootstrap(say)
    from lockgate.images.bootstrap import bootstrap_base_image

    bootstrap_base_image(base, suite=suite, client=client)
    client.images.get(base).tag(mirror_repo, mirror_tag)
    try:
        for chunk in client.api.push(mirror_repo, tag=mirror_tag, stream=True, decode=True):
            if "error" in chunk:
                raise LockgateError(f"push to {mirror} failed: {chunk['error'].strip()}")
    except docker.errors.APIError as exc:
        raise LockgateError(f"push to {mirror} failed: {exc.explanation}") from None
    say(f"lockgate: pushed base image {base} to {mirror}")
    return "bootstrapped"


def _install_debootstrap(say: Callable[[str], None]) -> None:
    """A CI job image (``python:3.11-slim-bookworm``) lacks debootstrap; as root on a Debian
    system, install it, once, only on this path (a registry hit never gets here)."""
    if shutil.which("debootstrap") or Path("/usr/sbin/debootstrap").exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise LockgateError(
            "debootstrap is not installed and cannot be installed here (needs root and "
            "apt-get): install it in the job image, or push the base image to the registry"
        )
    say("lockgate: installing debootstrap with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "debootstrap"],
    ):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise LockgateError(f"`{' '.join(argv)}` failed: {tail[0]}")
