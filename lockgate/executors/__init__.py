"""Executors, one module each, listed in one plain dict; and the automatic choice between them."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lockgate.errors import ExecutorUnavailable, LockgateError

if TYPE_CHECKING:
    from collections.abc import Callable

    from lockgate.engine.executor import Executor

EXECUTORS: dict[str, str] = {
    "dagger": "lockgate.executors.dagger:DaggerExecutor",
    "docker": "lockgate.executors.docker:DockerExecutor",
    "local": "lockgate.executors.local:LocalExecutor",
}
AUTO_ORDER = ("dagger", "docker")


def load_executor(name: str, **options: Any) -> Executor:
    if name not in EXECUTORS:
        raise LockgateError(f"--executor {name}: unknown; choose one of {', '.join(EXECUTORS)}")
    module_name, cls_name = EXECUTORS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ExecutorUnavailable(
            f"the {name} executor needs a package that is not installed ({exc.name}); "
            f"install it with: pip install 'lockgate[{name}]'"
        ) from None
    executor: Executor = getattr(module, cls_name)(**options)
    return executor


def choose_executor(
    requested: str | None, warn: Callable[[str], object], **options: Any
) -> Executor:
    """The requested executor (an error if it cannot run here), or the first that can:
    dagger when an engine is reachable, else docker when an engine answers, else local."""
    if requested:
        executor = load_executor(requested, **options)
        executor.check()
        return executor
    reasons = []
    for name in AUTO_ORDER:
        try:
            executor = load_executor(name, **options)
            executor.check()
            return executor
        except ExecutorUnavailable as exc:
            reasons.append(f"{name}: {exc}")
    warn(
        "no container engine found; running stages in this environment with the local executor, "
        "without isolation (" + "; ".join(reasons) + ")"
    )
    return load_executor("local")
