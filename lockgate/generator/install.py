"""Where generated CI jobs install lockgate from: the released version that generated the files
(default), a commit of a git repository, or a directory of the checkout (pip builds a wheel from
it). One requirement string, so every provider installs the same thing."""

from __future__ import annotations

import re

import lockgate
from lockgate.generator.model import GenerateError

EXTRAS = "docker"
_GIT = re.compile(r"git\+(https|ssh)://[^\s@]+(@[^\s@]+)?@(?P<sha>[0-9a-f]{40})")
_PIN = re.compile(r"lockgate==(?P<version>[0-9][0-9A-Za-z.+!-]*)")


def default_source() -> str:
    return f"lockgate=={lockgate.__version__}"


def requirement(source: str | None) -> str:
    """The pip requirement for ``--install SOURCE``: ``lockgate==X``, ``git+URL@SHA`` (a full
    40-character commit) or ``./DIR`` (a directory in the repository)."""
    source = source or default_source()
    if match := _PIN.fullmatch(source):
        return f"lockgate[{EXTRAS}]=={match['version']}"
    if _GIT.fullmatch(source):
        return f"lockgate[{EXTRAS}] @ {source}"
    if source.startswith("./") and not re.search(r"[\s'\"$`\\]", source):
        return f"{source.rstrip('/')}[{EXTRAS}]"
    raise GenerateError(
        f"--install {source!r}: give lockgate==VERSION, git+https://HOST/REPO@<40-hex commit> "
        "or ./DIR (a directory of this repository holding lockgate's pyproject.toml)"
    )


def pip_install(source: str | None, quote: str = "'") -> str:
    return f"python -m pip install {quote}{requirement(source)}{quote}"
