"""Validate the ``with:`` block of every built-in stage of a spec, with its parser from
:data:`lockgate.stages.STAGE_CONFIGS`; a problem is reported at its line in ``lockgate.yaml``."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.errors import LockgateError, SpecError
from lockgate.spec.yamlpos import Loc, load_yaml

if TYPE_CHECKING:
    from lockgate.spec.models import Pipeline

_FIELD = re.compile(r"\bwith((?:\.[A-Za-z_][\w-]*|\[\d+\])*)")


def _loc(stage: str, message: str) -> Loc:
    """The spec path of the field a parser's message names (``with.a.b[2]``), if any."""
    match = _FIELD.search(message)
    parts: list[str | int] = ["stages", stage, "with"]
    for piece in re.findall(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]", match.group(1) if match else ""):
        parts.append(piece[0] if piece[0] else int(piece[1]))
    return tuple(parts)


def check_stage_configs(pipeline: Pipeline, spec_text: str, spec_path: Path) -> None:
    from lockgate.stages import STAGE_CONFIGS

    _, positions = load_yaml(spec_text, str(spec_path))
    for name, stage in pipeline.stages.items():
        builtin = (stage.uses or "").removeprefix("lockgate/")
        target = STAGE_CONFIGS.get(builtin)
        if stage.uses is None or target is None:
            continue
        module, func = target.split(":")
        try:
            getattr(importlib.import_module(module), func)(stage.with_)
        except LockgateError as exc:
            where = positions.where(_loc(name, str(exc)))
            raise SpecError(f"{where}: stages.{name}: {exc}") from None
