"""Find the user's ``build`` function from ``module:function`` or ``path/to/file.py:function``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lockgate.errors import LockgateError


class EntrypointError(LockgateError):
    """``with.entrypoint`` does not name an importable function."""


def forget_foreign_module(top: str, workspace: Path) -> None:
    """Drop an already imported ``top`` package that does not come from this workspace (two
    projects both with a ``model.py``, trained in one process), so the import finds ours."""
    loaded = sys.modules.get(top)
    origin = getattr(loaded, "__file__", None)
    if loaded is None or origin is None or Path(origin).resolve().is_relative_to(workspace):
        return
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]


def load_entrypoint(spec: str, workspace: Path) -> Callable[..., Any]:
    """Import the function named by ``spec``, with the workspace first on ``sys.path``."""
    target, sep, func_name = spec.rpartition(":")
    if not sep or not target or not func_name:
        raise EntrypointError(
            f"with.entrypoint {spec!r}: expected 'package.module:function' or 'file.py:function'"
        )
    root = str(workspace.resolve())
    if root in sys.path:  # first, even if an earlier import put it further down
        sys.path.remove(root)
    sys.path.insert(0, root)
    if target.endswith(".py"):
        path = Path(target) if Path(target).is_absolute() else workspace / target
        if not path.is_file():
            raise EntrypointError(f"with.entrypoint {spec!r}: file {path} not found")
        module_name = "lockgate_user_" + path.stem.replace("-", "_")
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise EntrypointError(f"with.entrypoint {spec!r}: cannot load {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise user_code_failed(spec, f"loading {path.name}", exc) from None
    else:
        forget_foreign_module(target.split(".")[0], Path(root))
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (target == exc.name or target.startswith(exc.name + ".")):
                raise user_code_failed(spec, f"importing {target}", exc) from None
            raise EntrypointError(
                f"with.entrypoint {spec!r}: module {exc.name!r} not found in {workspace}"
            ) from None
        except Exception as exc:
            raise user_code_failed(spec, f"importing {target}", exc) from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise EntrypointError(f"with.entrypoint {spec!r}: {func_name!r} is not a function")
    return func


def user_code_failed(spec: str, doing: str, exc: Exception) -> EntrypointError:
    """The user's code raised while lockgate ran it (``doing``): its traceback goes to stderr
    from the first frame that is not lockgate's or the import system's (a SyntaxError shows
    only where it is), and the error names the setting."""
    import importlib as importlib_package
    import traceback

    import lockgate

    ours = tuple(
        str(Path(package.__file__ or "").parent) + os.sep
        for package in (lockgate, importlib_package)
    )
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(("<frozen", *ours)):
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb, file=sys.stderr)
    return EntrypointError(
        f"with.entrypoint {spec!r}: {doing} raised {type(exc).__name__}: {exc} (traceback above)"
    )
