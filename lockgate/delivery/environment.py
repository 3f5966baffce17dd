"""Building the pieces for one environment from ``delivery.yaml``: the commands' one factory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lockgate.delivery.config import DEFAULT_FILE, load_delivery_config
from lockgate.delivery.rollout.rollouts import Rollouts
from lockgate.delivery.rollout.state import StateStore
from lockgate.delivery.rollout.targets.base import make_target

STATE_SUBDIR = Path(".lockgate") / "state" / "delivery"


def delivery_path(explicit: Path | None) -> Path:
    return explicit if explicit is not None else Path.cwd() / DEFAULT_FILE


def open_environment(env: str, delivery: Path | None = None, *, quiet: bool = False) -> Rollouts:
    path = delivery_path(delivery).resolve()
    settings = load_delivery_config(path).environment(env)
    store = StateStore(path.parent / STATE_SUBDIR)
    base = os.environ.get("LOCKGATE_BASE_IMAGE", "lockgate/debian:bookworm")
    extra = {"base_image": base} if settings.target == "docker" else {}
    target = make_target(env, settings, store.folder, **extra)

    def log(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    return Rollouts(env, settings, target, store, log=log)
