"""Hand a value to later steps or jobs: ``$GITHUB_OUTPUT`` lines or a GitLab dotenv report."""

from __future__ import annotations

import os
import re
from pathlib import Path

from lockgate.errors import LockgateError

DIGEST_REF = re.compile(r"^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$")
CACHE_KEY = re.compile(r"^[0-9a-f]{64}$")


class CiOutputError(LockgateError):
    """A CI output target is missing or a value has the wrong shape."""


def parse_target(target: str) -> tuple[str, Path | None]:
    """``github`` | ``dotenv=FILE`` | ``plain``."""
    if target == "github":
        path = os.environ.get("GITHUB_OUTPUT")
        if not path:
            raise CiOutputError(
                "--output github: $GITHUB_OUTPUT is not set (not in GitHub Actions?)"
            )
        return "github", Path(path)
    if target.startswith("dotenv="):
        return "dotenv", Path(target.removeprefix("dotenv="))
    if target == "plain":
        return "plain", None
    raise CiOutputError(f"--output {target!r}: use github, dotenv=FILE or plain")


def emit(target: str, *, github_name: str, dotenv_name: str, value: str) -> str:
    """Write ``value`` where ``target`` says; return the line written (for logs/tests)."""
    if "\n" in value or "\r" in value:
        raise CiOutputError(f"{github_name}: refusing a value with a line break")
    kind, path = parse_target(target)
    line = f"{github_name if kind == 'github' else dotenv_name}={value}\n"
    if kind == "plain" or path is None:
        return line
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line)
    return line
