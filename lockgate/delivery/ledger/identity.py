"""Who is acting: the CI system's user, or on a laptop the local git identity (marked
``local-git`` so that an auditor can tell it apart from an identity a CI system vouched for)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lockgate.errors import LockgateError

# environment variable -> source, in the order they are looked at
CI_IDENTITIES = (
    ("GITHUB_ACTOR", "github"),
    ("GITLAB_USER_LOGIN", "gitlab"),
    ("BUILD_USER_ID", "jenkins"),
)


@dataclass(frozen=True)
class Identity:
    name: str
    source: str
    email: str | None = None

    def names(self) -> set[str]:
        return {n for n in (self.name, self.email) if n}


def _git_config(key: str, cwd: Path | None) -> str | None:
    try:
        done = subprocess.run(
            ["git", "config", "--get", key],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def current_identity(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Identity:
    env = os.environ if env is None else env
    for variable, source in CI_IDENTITIES:
        if env.get(variable):
            return Identity(env[variable], source)
    email = _git_config("user.email", cwd)
    name = _git_config("user.name", cwd)
    if email is None and name is None:
        raise LockgateError(
            "cannot tell who you are: no CI identity (GITHUB_ACTOR, GITLAB_USER_LOGIN, "
            "BUILD_USER_ID) and no git user.email; set one with `git config user.email ...`"
        )
    return Identity(email or str(name), "local-git", email)
