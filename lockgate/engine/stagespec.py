"""StageSpec: everything an executor needs to run one stage, as a plain frozen value.

Executors translate a StageSpec (plus the run-time :class:`StagePaths`) into their backend's
terms; nothing else in the engine knows which backend runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lockgate.contract import (
    CONTAINER_IN,
    CONTAINER_OUT,
    CONTAINER_SECRETS,
    CONTAINER_WORKSPACE,
    ENV_IN_DIGESTS,
)


@dataclass(frozen=True)
class ImageRecipe:
    """How the runner image is made. ``digest`` is a content digest of the recipe (base reference,
    Dockerfile and build context, requirements, OS packages, lockgate's own source), so it is known
    without building and is the same for every executor."""

    digest: str
    tag: str
    base: str | None = None
    dockerfile: str | None = None  # absolute path
    context: str | None = None  # absolute path
    requirements: str | None = None  # absolute path
    packages: tuple[str, ...] = ()
    install_lockgate: bool = True


@dataclass(frozen=True)
class StageSpec:
    name: str
    image: ImageRecipe
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()
    caches: tuple[tuple[str, str], ...] = ()  # (name, absolute path in the container)
    gpu: int | Literal["all"] = 0
    needs: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()  # globs relative to the workspace
    outputs: tuple[str, ...] = ()  # files that must exist under LOCKGATE_OUT
    timeout: int | None = None
    retries: int = 0
    program_version: str = ""  # version of a built-in stage program ("" for `run:`)
    use_cache: bool = True
    uses: str | None = None
    engine: bool = False  # the stage gets the container engine's API socket
    reads_sealed: bool = False  # sealed upstream outputs are handed over sealed, read in place
    # given short-lived KMS credentials the engine mints before each attempt, not lent ones
    minted_credentials: bool = False


@dataclass(frozen=True)
class StagePaths:
    """Host paths of one stage's run; executors map them to the contract's container paths."""

    workspace: Path
    inputs: Mapping[str, Path]  # upstream name -> its output folder
    out: Path
    secrets_dir: Path
    state: Path
    caches: Mapping[str, Path] = field(default_factory=dict)  # cache name -> host folder
    in_dir: Path | None = None  # a folder of links to ``inputs`` (local executor)
    # upstream name -> the outputs digest a sealed input read in place must vouch for
    in_digests: Mapping[str, str] = field(default_factory=dict)


def contract_env(
    spec: StageSpec, *, run_id: str, git_sha: str, paths: StagePaths, in_container: bool
) -> dict[str, str]:
    """The ``LOCKGATE_*`` variables of the stage contract, plus the stage's declared env."""
    env = dict(spec.env)
    if in_container:
        env.update(
            LOCKGATE_WORKSPACE=CONTAINER_WORKSPACE,
            LOCKGATE_IN=CONTAINER_IN,
            LOCKGATE_OUT=CONTAINER_OUT,
            LOCKGATE_SECRETS=CONTAINER_SECRETS,
        )
    else:
        env.update(
            LOCKGATE_WORKSPACE=str(paths.workspace),
            LOCKGATE_IN=str(paths.in_dir or ""),
            LOCKGATE_OUT=str(paths.out),
            LOCKGATE_SECRETS=str(paths.secrets_dir),
        )
    env.update(
        LOCKGATE_STATE=str(paths.state),
        LOCKGATE_RUN_ID=run_id,
        LOCKGATE_STAGE=spec.name,
        LOCKGATE_GIT_SHA=git_sha,
        LOCKGATE_IMAGE_DIGEST=spec.image.digest,
    )
    if paths.in_digests:
        env[ENV_IN_DIGESTS] = json.dumps(dict(sorted(paths.in_digests.items())))
    for name, path in spec.caches:
        env[f"LOCKGATE_CACHE_{name.upper().replace('-', '_')}"] = (
            path if in_container else str(paths.caches[name])
        )
    return env
