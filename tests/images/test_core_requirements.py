"""A runner image gets lockgate's own dependencies from ``CORE_REQUIREMENTS``; the list must
say what pyproject says, or a stage inside the image imports something that is not there (the
local executor, which CI runs inside the runner image, needs ``packaging``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from lockgate.images.runner import CORE_REQUIREMENTS

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
TERMINAL_ONLY = {"rich"}  # the live view of a run on a terminal; never inside an image


def test_the_image_installs_what_pyproject_declares() -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    wanted = {d for d in declared if d.split(">", 1)[0].split("=", 1)[0] not in TERMINAL_ONLY}
    assert set(CORE_REQUIREMENTS) == wanted
