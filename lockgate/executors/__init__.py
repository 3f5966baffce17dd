"""Executors, one module each, listed in one plain dict; and the automatic choice between them."""

from __future__ import annotations

import importlib
import importlib.util
import os
import socket
from collections.abc import Mapping
from pathlib import Path
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
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


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


def engine_candidates(
    environ: Mapping[str, str], *, probe: bool = True
) -> tuple[list[str], list[str]]:
    """The container executors worth trying, in order, and why the others were passed over.

    Decided from cheap signs only: environment variables, PATH, whether the SDK is installed
    (found, not imported) and, with ``probe``, one connect to the Docker socket. No SDK is
    imported here: importing the Dagger SDK alone costs about a second and a half.
    """
    candidates, passed_over = [], []
    dagger_session = environ.get("DAGGER_SESSION_PORT") and environ.get("DAGGER_SESSION_TOKEN")
    if not dagger_session:
        # A `dagger` binary on PATH could be anything: only a session selects Dagger unasked.
        passed_over.append("dagger: no engine session (DAGGER_SESSION_PORT)")
    elif importlib.util.find_spec("dagger") is None:
        passed_over.append("dagger: the SDK is not installed (pip install 'lockgate[dagger]')")
    else:
        candidates.append("dagger")
    host = environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    if probe and not docker_answers(host):
        passed_over.append(f"docker: no engine answers at {host}")
    elif not probe and host == DEFAULT_DOCKER_HOST and not Path(host[len("unix://") :]).exists():
        passed_over.append(f"docker: no socket at {host}")
    else:
        candidates.append("docker")
    return candidates, passed_over


def docker_answers(host: str, timeout_s: float = 1.0) -> bool:
    """Whether something accepts a connection at a Docker host address (unix:// or tcp://);
    the executor's own check then asks it for a real answer."""
    if host.startswith("unix://"):
        family, address = socket.AF_UNIX, host[len("unix://") :]
        target: Any = address
    elif host.startswith(("tcp://", "http://", "https://")):
        hostport = host.split("://", 1)[1].rstrip("/")
        name, _, port = hostport.rpartition(":")
        family, target = socket.AF_INET, (name or hostport, int(port or 2375))
    else:
        return True  # an address form this probe does not know: let the executor's check decide
    try:
        with socket.socket(family, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout_s)
            conn.connect(target)
        return True
    except (OSError, ValueError):
        return False


def choose_executor(
    requested: str | None, warn: Callable[[str], object], *, probe: bool = True, **options: Any
) -> Executor:
    """The requested executor (an error if it cannot run here), or the first that can:
    dagger when its engine answers a query, else docker when an engine answers, else local.

    ``probe=False`` (every selected stage is a cache hit, so nothing will run) picks by the
    cheapest signs alone, checks nothing and warns about nothing.
    """
    if requested:
        executor = load_executor(requested, **options)
        if probe:
            executor.check()
        return executor
    candidates, reasons = engine_candidates(os.environ, probe=probe)
    if not probe:
        return load_executor(candidates[0] if candidates else "local", **options)
    for name in candidates:
        try:
            executor = load_executor(name, **options)
            # Unasked, an executor must show its engine answers, not merely that it is installed.
            getattr(executor, "auto_check", executor.check)()
            return executor
        except ExecutorUnavailable as exc:
            reasons.append(f"{name}: {exc}")
    warn(
        "no container engine found; running stages in this environment with the local executor, "
        "without isolation (" + "; ".join(reasons) + ")"
    )
    return load_executor("local")
