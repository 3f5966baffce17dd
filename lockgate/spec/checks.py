"""Rules on a spec's values that its types alone let through: ``gpu: -1``, ``run: ''``, an output
outside the stage's folder, a need listed twice, an env value YAML read as a number or null.

They run on the plain values as read (before the models convert them), so ``true`` is still a
boolean and ``0x10`` can be shown as written. Shapes the models refuse are skipped here and
reported by them.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from lockgate.errors import SpecError
from lockgate.spec.ci import check_ci
from lockgate.spec.yamlpos import Loc, Positions, dotted


def check_values(raw: dict[str, Any], positions: Positions) -> None:
    """Raise a located :class:`SpecError` for the first value that breaks a rule."""
    version = raw.get("version", 1)
    if type(version) is not int or version != 1:
        shown = _shown(positions, ("version",), version)
        raise _fail(
            positions,
            ("version",),
            f"lockgate reads spec version 1 (a number), not {shown}; write version: 1",
        )
    _check_image(raw.get("image"), ("image",), positions)
    check_ci(raw.get("ci"), positions)
    stages = raw.get("stages")
    if not isinstance(stages, dict):
        return
    for name, stage in stages.items():
        if isinstance(stage, dict):
            _check_stage(stage, ("stages", name), positions)


def _fail(positions: Positions, loc: Loc, message: str) -> SpecError:
    return SpecError(f"{positions.where(loc)}: {dotted(loc)}: {message}")


def _shown(positions: Positions, loc: Loc, value: Any) -> str:
    text = repr(value) if isinstance(value, str) else positions.text(loc, value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _check_stage(stage: dict[str, Any], loc: Loc, positions: Positions) -> None:
    gpu = stage.get("gpu", 0)
    if gpu != "all" and (type(gpu) is not int or gpu < 0):
        where = (*loc, "gpu")
        raise _fail(
            positions,
            where,
            f"must be a count of GPUs (0, 1, 2, ...) or 'all', not {_shown(positions, where, gpu)}",
        )
    _check_run(stage.get("run"), (*loc, "run"), positions)
    _check_image(stage.get("image"), (*loc, "image"), positions)
    _check_outputs(stage.get("outputs"), (*loc, "outputs"), positions)
    _check_needs(stage.get("needs"), (*loc, "needs"), positions)
    _check_env(stage.get("env"), (*loc, "env"), positions)


def _check_run(run: Any, loc: Loc, positions: Positions) -> None:
    if isinstance(run, str) and not run.strip():
        raise _fail(positions, loc, "is empty; give a command, e.g. run: [python3, train.py]")
    if isinstance(run, list) and run and isinstance(run[0], str) and not run[0].strip():
        raise _fail(positions, (*loc, 0), "the program to run is empty")


def _check_image(image: Any, loc: Loc, positions: Positions) -> None:
    if not isinstance(image, dict):
        return
    for key in ("base", "dockerfile"):
        value = image.get(key)
        if isinstance(value, str) and not value.strip():
            example = "lockgate/debian:bookworm" if key == "base" else "Dockerfile"
            raise _fail(positions, (*loc, key), f"is empty; name one, e.g. {key}: {example}")


def _check_outputs(outputs: Any, loc: Loc, positions: Positions) -> None:
    if not isinstance(outputs, list):
        return
    for i, output in enumerate(outputs):
        if not isinstance(output, str):
            continue
        path = PurePosixPath(output)
        if not output.strip() or path.is_absolute() or ".." in path.parts or output[:1] == "~":
            raise _fail(
                positions,
                (*loc, i),
                f"{output!r} is not inside the stage's folder; give a path relative to "
                "LOCKGATE_OUT, without '..', e.g. model.pt or reports/metrics.json",
            )


def _check_needs(needs: Any, loc: Loc, positions: Positions) -> None:
    if not isinstance(needs, list):
        return
    seen: dict[str, int] = {}
    for i, need in enumerate(needs):
        if need is None or isinstance(need, bool | int | float):
            text = _shown(positions, (*loc, i), need)
            raise _fail(
                positions,
                (*loc, i),
                f"YAML reads {text or 'an empty value'} as {_kind(need)}, not a stage name; "
                f"quote it: '{text}'",
            )
        if need in seen:
            raise _fail(
                positions,
                (*loc, i),
                f"{need!r} is listed twice (also at {dotted((*loc, seen[need]))}); list it once",
            )
        seen[need] = i


def _check_env(env: Any, loc: Loc, positions: Positions) -> None:
    if not isinstance(env, dict):
        return
    for key, value in env.items():
        if isinstance(value, str):
            continue
        where = (*loc, key)
        if isinstance(value, dict | list):
            raise _fail(
                positions, where, "an environment variable's value is text, not a list or mapping"
            )
        text = positions.text(where, value)
        raise _fail(
            positions,
            where,
            f"YAML reads {text or 'an empty value'} as {_kind(value)}, and environment variables "
            f'are text; quote it: {key}: "{text}"',
        )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__}"
