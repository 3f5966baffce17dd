"""The lockgate side: the data-check stage's ``main`` run on the benchmark's suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.data_check.suite import WITH


def run_lockgate(data: Path, ref: Path, out: Path, budget: str | None = None) -> dict[str, Any]:
    """One run of the stage over ``data`` against ``ref`` (``budget``: its ``memory_budget``);
    the exit code and the drifted columns it reported."""
    from lockgate.stages.context import StageContext
    from lockgate.stages.data_check import main

    with_ = {**WITH, "data": str(data), "reference": str(ref), "memory_budget": budget}
    ctx = StageContext(
        data.parent, data.parent, out, data.parent, out / "state", "", "bench", "", with_
    )
    code = main(ctx)
    report = json.loads((out / "data-check.json").read_text())
    return {"exit": code, "drifted": report["drifted_columns"]}
