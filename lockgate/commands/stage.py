"""``lockgate stage NAME``: run a built-in stage in the current environment."""

from __future__ import annotations

import argparse
import difflib
import importlib
from dataclasses import dataclass

from lockgate.errors import LockgateError
from lockgate.stages import BUILTIN_STAGES
from lockgate.stages.context import StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help=f"one of: {', '.join(sorted(BUILTIN_STAGES)) or 'none'}")


# Built-in stages whose process may end without the interpreter's teardown (see
# lockgate.__main__.entry): everything they write is closed before they return, and nothing they
# use needs an exit handler. Tearing down a data-check process frees the buffers of its query
# one by one (about 40 ms after a 10M-row check, as long as a plain script's own exit); the
# operating system takes the memory back at once.
QUICK_EXIT = frozenset({"data-check"})


@dataclass
class Finished:
    """Set once a stage in :data:`QUICK_EXIT` has returned: its exit code."""

    code: int | None = None


finished = Finished()


def run(args: argparse.Namespace) -> int:
    target = BUILTIN_STAGES.get(args.name)
    if target is None:
        close = difflib.get_close_matches(args.name, list(BUILTIN_STAGES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise LockgateError(f"unknown built-in stage {args.name!r}{hint}")
    try:
        ctx = StageContext.from_env()
    except ValueError as exc:
        raise LockgateError(str(exc)) from None
    module_name, func = target.split(":")
    try:
        code: int = getattr(importlib.import_module(module_name), func)(ctx)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] == "lockgate":
            raise
        extra = STAGE_EXTRAS.get(args.name, "all")
        raise LockgateError(
            f"stage lockgate/{args.name} needs the Python package {exc.name!r}, which this "
            f"environment lacks: add it to image.requirements (or pip install 'lockgate[{extra}]')"
        ) from None
    if args.name in QUICK_EXIT:
        finished.code = code
    return code


# which optional-dependency group of lockgate a built-in stage's imports come from
STAGE_EXTRAS = {
    "data-check": "data",
    "ingest": "data,ingest",
    "train": "train",
    "evaluate": "train,mlflow",
    "package": "docker",
}
