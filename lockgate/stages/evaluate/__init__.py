"""``uses: lockgate/evaluate``: holdout metrics, thresholds, champion comparison, latency, and
registration of the candidate. Exit 1 when the gate fails. See docs/train.md.

The stage itself is in ``stage.py``, the champion side in ``champion.py``, the files it writes in
``outputs.py``; this module names what the stage registry and callers import."""

from __future__ import annotations

from lockgate.stages.evaluate.champion import CI_MARKERS, ChampionUnreachable
from lockgate.stages.evaluate.stage import TrainRunMissing, evaluate, main

__all__ = ["CI_MARKERS", "ChampionUnreachable", "TrainRunMissing", "evaluate", "main"]
