"""Validate the ``with:`` block of every built-in stage of a spec: first against the stage's
model (:data:`lockgate.stages.STAGE_MODELS`), every problem at its own line in ``lockgate.yaml``
with a did-you-mean, then with the stage's own checks (:data:`lockgate.stages.STAGE_CONFIGS`)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.errors import LockgateError, SpecError
from lockgate.spec.config_errors import describe_validation_error, model_keys
from lockgate.spec.yamlpos import Loc, Positions, load_yaml

if TYPE_CHECKING:
    from lockgate.spec.models import Pipeline

_FIELD = re.compile(r"\bwith((?:\.[A-Za-z_][\w-]*|\[\d+\])*)")


def _loc(stage: str, message: str) -> Loc:
    """The spec path of the field a stage check's message names (``with.a.b[2]``), if any."""
    match = _FIELD.search(message)
    parts: list[str | int] = ["stages", stage, "with"]
    for piece in re.findall(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]", match.group(1) if match else ""):
        parts.append(piece[0] if piece[0] else int(piece[1]))
    return tuple(parts)


def _imported(target: str) -> Any:
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def _model_problem(stage: str, model: Any, block: dict[str, Any], positions: Positions) -> str:
    from pydantic import ValidationError

    base: Loc = ("stages", stage, "with")
    keys = model_keys(model)
    try:
        model.model_validate(block)
    except ValidationError as exc:
        return describe_validation_error(
            exc,
            positions=positions,
            clean_loc=lambda loc: (*base, *loc),
            known_keys=lambda parent: keys(parent[len(base) :]),
        )
    return ""


def check_stage_configs(pipeline: Pipeline, spec_text: str, spec_path: Path) -> None:
    """Raise one :class:`SpecError` listing every built-in stage whose ``with:`` is wrong."""
    from lockgate.stages import STAGE_CONFIGS, STAGE_MODELS

    _, positions = load_yaml(spec_text, str(spec_path))
    problems: list[str] = []
    for name, stage in pipeline.stages.items():
        builtin = (stage.uses or "").removeprefix("lockgate/")
        if stage.uses is None or builtin not in STAGE_MODELS:
            continue
        problem = _model_problem(name, _imported(STAGE_MODELS[builtin]), stage.with_, positions)
        if not problem and builtin in STAGE_CONFIGS:
            try:
                _imported(STAGE_CONFIGS[builtin])(stage.with_)
            except LockgateError as exc:
                problem = f"{positions.where(_loc(name, str(exc)))}: stages.{name}: {exc}"
        if problem:
            problems.append(problem)
    if problems:
        raise SpecError("\n".join(problems))
