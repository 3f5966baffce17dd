"""Before the local executor runs a stage: are the Python packages the image recipe names
installed for the interpreter the stage will use? A container executor installs them into the
runner image; the local executor runs in whatever environment it finds, so a missing package
would otherwise surface as a ``ModuleNotFoundError`` halfway through the stage."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from lockgate.errors import ExecutorUnavailable

_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")

# Ask the interpreter itself which version of each distribution it has (by distribution name,
# so scikit-learn is found although it imports as sklearn); null where it has none.
_PROBE = """
import importlib.metadata as m, json, sys
found = {}
for name in json.loads(sys.argv[1]):
    try:
        found[name] = m.version(name)
    except m.PackageNotFoundError:
        found[name] = None
print(json.dumps(found))
"""


def requirement_lines(requirements: Path) -> tuple[str, ...]:
    """Requirement lines of a file, comments dropped; options (``-r``, ``--index-url``), URLs
    and paths are left to pip."""
    lines = []
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith(("-", ".", "/")) or "://" in line:
            continue
        if _NAME.match(line):
            lines.append(line)
    return tuple(lines)


def requirement_names(requirements: Path) -> tuple[str, ...]:
    """Distribution names in a requirements file."""
    names = []
    for line in requirement_lines(requirements):
        found = _NAME.match(line.split(";", 1)[0].strip())
        if found:
            names.append(found.group(1))
    return tuple(names)


def mismatched(lines: tuple[str, ...], versions: dict[str, str | None]) -> list[str]:
    """``name VERSION (FILE asks SPEC)`` for each installed distribution whose version falls
    outside the line's specifier. Lines whose environment marker does not hold here are left
    out, and so is a line ``packaging`` cannot read (pip will say why in a container build)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion

    wrong = []
    for line in lines:
        try:
            wanted = Requirement(line)
        except InvalidRequirement:
            continue
        if wanted.marker is not None and not wanted.marker.evaluate():
            continue
        have = versions.get(wanted.name)
        if have is None or not wanted.specifier:
            continue
        try:
            fits = wanted.specifier.contains(have, prereleases=True)
        except InvalidVersion:
            continue
        if not fits:
            wrong.append(f"{wanted.name} {have} (asked: {wanted.specifier})")
    return wrong


def stage_interpreter(argv: tuple[str, ...] | list[str], path: str) -> str | None:
    """The Python that will run the stage: lockgate's own for built-in stages, the named one for
    ``python3 ...``, else the ``python3`` a shell command would find on ``path``."""
    if argv[0] == "lockgate":
        return sys.executable
    head = Path(argv[0]).name
    return shutil.which(argv[0] if _PYTHON.match(head) else "python3", path=path)


@lru_cache(maxsize=64)
def _installed(interpreter: str, names: tuple[str, ...]) -> dict[str, str | None]:
    done = subprocess.run(
        [interpreter, "-c", _PROBE, json.dumps(list(names))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return dict.fromkeys(names)
    return dict(json.loads(done.stdout))


def check_requirements(
    stage: str, requirements: str | None, argv: tuple[str, ...] | list[str], path: str
) -> None:
    """Raise one message naming what to install, or to use a container executor, when the
    interpreter lacks a package the recipe's requirements file names."""
    if not requirements:
        return
    names = requirement_names(Path(requirements))
    if not names:
        return
    interpreter = stage_interpreter(argv, path)
    fix = "or run with --executor docker, which installs them into the runner image"
    if interpreter is None:
        raise ExecutorUnavailable(
            f"stage {stage}: the local executor finds no python3 on PATH to run with the "
            f"packages {Path(requirements).name} names: put an environment that has them first "
            f"on PATH, {fix}"
        )
    versions = _installed(interpreter, names)
    missing = [name for name in names if versions.get(name) is None]
    if missing:
        raise ExecutorUnavailable(
            f"stage {stage}: the local executor runs {interpreter}, which lacks "
            f"{', '.join(missing)} (named in {Path(requirements).name}): install them "
            f"({interpreter} -m pip install -r {requirements}), put an environment that has "
            f"them first on PATH, {fix}"
        )
    wrong = mismatched(requirement_lines(Path(requirements)), versions)
    if wrong:
        raise ExecutorUnavailable(
            f"stage {stage}: the local executor runs {interpreter}, whose "
            f"{'; '.join(wrong)} differs from what {Path(requirements).name} asks, so the "
            f"stage would not run what CI runs: install the asked versions ({interpreter} -m "
            f"pip install -r {requirements}), put an environment that has them first on PATH, "
            f"{fix}"
        )
