"""``uses: lockgate/data-check``: validate a dataset against checks declared in ``with:``.

Writes ``data-check.json``, ``metrics.json`` and ``report.md`` (with drift histograms) to the
stage's output folder; returns 1 and names each failed check on stderr when a gate fails.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from lockgate.stages.context import StageContext


def main(ctx: StageContext) -> int:
    from lockgate.stages.data_check.check import DataCheck
    from lockgate.stages.data_check.report import write_outputs
    from lockgate.stages.data_check.spec import parse_spec
    from lockgate.stages.data_check.watermark import WatermarkStore

    spec = parse_spec(ctx.with_)
    check = DataCheck(
        spec=spec,
        resolve=ctx.resolve,
        watermarks=WatermarkStore.for_stage(ctx.state, ctx.stage),
        now=datetime.now(UTC),
    )
    outcome = check.run()
    write_outputs(ctx.out, outcome, histograms=spec.drift is None or spec.drift.histograms)
    for failure in outcome.failures:
        print(failure.line(), file=sys.stderr)
    return 0 if outcome.passed else 1
