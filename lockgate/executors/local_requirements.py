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

# Ask the interpreter itself which distributions it lacks (by distribution name, so
# scikit-learn is found although it imports as sklearn).
_PROBE = """
import importlib.metadata as m, json, sys
missing = []
for name in json.loads(sys.argv[1]):
    try:
        m.distribution(name)
    except m.PackageNotFoundError:
        missing.append(name)
print(json.dumps(missing))
"""


def requirement_names(requirements: Path) -> tuple[str, ...]:
    """Distribution names in a requirements file; options (``-r``, ``--index-url``), URLs and
    paths are left to pip."""
    names = []
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith(("-", ".", "/")) or "://" in line:
            continue
        found = _NAME.match(line.split(";", 1)[0].strip())
        if found:
            names.append(found.group(1))
    return tuple(names)


def stage_interpreter(argv: tuple[str, ...] | list[str], path: str) -> str | None:
    """The Python that will run the stage: lockgate's own for built-in stages, the named one for
    ``python3 ...``, else the ``python3`` a shell command would find on ``path``."""
    if argv[0] == "lockgate":
        return sys.executable
    head = Path(argv[0]).name
    return shutil.which(argv[0] if _PYTHON.match(head) else "python3", path=path)


@lru_cache(maxsize=64)
def _missing(interpreter: str, names: tuple[str, ...]) -> tuple[str, ...]:
    done = subprocess.run(
        [interpreter, "-c", _PROBE, json.dumps(list(names))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return names
    return tuple(json.loads(done.stdout))


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
    missing = _missing(interpreter, names)
    if missing:
        raise ExecutorUnavailable(
            f"stage {stage}: the local executor runs {interpreter}, which lacks "
            f"{', '.join(missing)} (named in {Path(requirements).name}): install them "
            f"({interpreter} -m pip install -r {requirements}), put an environment that has "
            f"them first on PATH, {fix}"
        )
