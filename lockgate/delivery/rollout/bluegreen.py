"""Blue-green: start the new version beside the old, smoke-test it, switch all traffic at once.

The smoke test sends ``blue_green.smoke_requests`` identical requests to both versions directly
(not through the router) and judges the new one with the analysis conditions: its own error rate
and latency from its ``/metrics``, and its prediction mix against the old version's answers to
the same inputs. On a pass the router switches 100% in one atomic change; the old version stays
running for ``blue_green.keep_old_s`` so ``lockgate rollout abort ENV`` switches back instantly.
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from collections import Counter
from typing import TYPE_CHECKING

from lockgate.delivery.rollout.analysis import Analyzer
from lockgate.delivery.rollout.state import RolloutState
from lockgate.delivery.rollout.traffic import payload

if TYPE_CHECKING:
    from lockgate.delivery.rollout.rollouts import RolloutResult, Rollouts


def _ask(base_url: str, body: bytes) -> list[str]:
    request = urllib.request.Request(
        f"{base_url}/invocations", body, {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return [str(p) for p in json.loads(answer.read())["predictions"]]
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return []


def run_blue_green(ctl: Rollouts, state: RolloutState) -> RolloutResult:
    settings = ctl.settings
    assert state.stable is not None and state.canary is not None
    old, new = state.stable, state.canary
    ctl.target.start(new)
    analyzer = Analyzer(ctl.target, settings.analysis.parsed(), settings.blue_green.smoke_requests)
    start = analyzer.begin([new])
    old_url, new_url = ctl.target.metrics_url(old), ctl.target.metrics_url(new)
    baseline: Counter[str] = Counter()
    rng = random.Random(state.next_revision)
    for _ in range(settings.blue_green.smoke_requests):
        body = payload(rng, 16, settings.blue_green.features)
        if new_url:
            _ask(new_url, body)
        if old_url:
            baseline.update(_ask(old_url, body))
    measured = analyzer.measure(start, new, dict(baseline), step=0, weight=0)
    ctl.log(f"{ctl.env}: smoke test of {new.ref}: {measured.outcome}: {measured.reason}")
    state = ctl.store.save(state.evolve(measurements=(*state.measurements, measured.as_record())))
    if measured.outcome != "pass":
        reason = f"smoke test {measured.outcome}: {measured.reason}"
        state, change = ctl.abort_candidate(state, reason)
        return ctl._result(state, "aborted", reason, failed_at=measured.ended, rollback=change)
    change = ctl.promote(state, measured.predictions, warm_s=settings.blue_green.keep_old_s)
    state = ctl.store.load(ctl.env)
    return ctl._result(
        state, "completed", "smoke test passed; switched", candidate=new, extra={"promoted": change}
    )
