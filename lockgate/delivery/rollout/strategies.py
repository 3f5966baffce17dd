"""The rollout strategies, by the name `delivery.yaml` gives them.

A strategy drives one rollout from its saved state to an outcome. The table names modules, not
functions, so the rollout engine (`rollouts.py`) never imports a strategy at module level and no
strategy module has to import the engine back: adding one is one module and one line here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lockgate.delivery.rollout.rollouts import RolloutResult, Rollouts
    from lockgate.delivery.rollout.state import RolloutState


class Strategy(Protocol):
    def __call__(self, rollouts: Rollouts, state: RolloutState) -> RolloutResult: ...


STRATEGIES: dict[str, tuple[str, str]] = {
    "canary": ("lockgate.delivery.rollout.canary", "run_canary"),
    "blue-green": ("lockgate.delivery.rollout.bluegreen", "run_blue_green"),
}


def strategy(name: str) -> Strategy:
    """The function that runs strategy ``name`` (validated names only reach here)."""
    module, function = STRATEGIES[name]
    run: Strategy = getattr(importlib.import_module(module), function)
    return run
