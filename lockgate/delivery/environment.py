"""Building the pieces for one environment from its rollout settings: the commands' one
factory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lockgate.delivery.config import resolve_rollout
from lockgate.delivery.rollout.rollouts import Rollouts
from lockgate.delivery.rollout.state import StateStore
from lockgate.delivery.rollout.targets.base import make_target

STATE_SUBDIR = Path(".lockgate") / "state" / "delivery"


def state_folder(delivery: Path | None, start: Path | None = None) -> Path:
    """Where rollout state lives: beside the file named with --delivery, else in the project
    (the folder of the nearest lockgate.yaml, or ``start``)."""
    if delivery is not None:
        return delivery.resolve().parent / STATE_SUBDIR
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "lockgate.yaml").is_file():
            return folder / STATE_SUBDIR
    return here / STATE_SUBDIR


def open_environment(
    env: str,
    delivery: Path | None = None,
    *,
    quiet: bool = False,
    start: Path | None = None,
) -> Rollouts:
    resolved = resolve_rollout(env, delivery=delivery, start=start)
    settings = resolved.settings
    store = StateStore(resolved.root / STATE_SUBDIR)
    base = os.environ.get("LOCKGATE_BASE_IMAGE", "lockgate/debian:bookworm")
    extra = {"base_image": base} if settings.target == "docker" else {}
    target = make_target(env, settings, store.folder, **extra)

    def log(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    return Rollouts(env, settings, target, store, log=log)
