"""``uses: lockgate/train``: run the user's model through lockgate's training loop.

See docs/train.md for the entrypoint contract and every ``with:`` option. The stage itself is in
``stage.py``; this module names what a user's build function and the stage registry import.
"""

from __future__ import annotations

from lockgate.stages.train.contract import DatasetShape, TrainContext, TrainPlan
from lockgate.stages.train.stage import main

__all__ = ["DatasetShape", "TrainContext", "TrainPlan", "main"]
