"""``lockgate monitor``: a live version that starts failing is rolled back automatically."""

from __future__ import annotations

import pytest

from lockgate.delivery.rollout.monitor import LiveMonitor
from tests.delivery.test_canary import under_load

pytestmark = pytest.mark.docker


def test_sustained_breach_rolls_back_to_the_previous_version(deployment, serving_image):
    d = deployment(
        strategy="blue-green",
        blue_green={"smoke_requests": 10, "keep_old_s": 0},
        monitor={
            "interval_s": 1.0,
            "breaches": 2,
            "min_requests": 5,
            "conditions": ["error_rate < 0.05", "p95_ms < 200"],
        },
    )
    d.rollouts.start(serving_image)
    # passes its smoke test (10 requests), then fails 40% of requests
    assert (
        d.rollouts.start(serving_image, {"ERROR_AFTER": "10", "ERROR_RATE": "0.4"}).status
        == "completed"
    )
    bad = d.store.load(d.env).stable
    report, outcomes = under_load(d, lambda: LiveMonitor(d.rollouts).watch(30.0, max_windows=8))

    assert report.rollback is not None and report.exit_code == 1
    assert [w.outcome for w in report.windows][-2:] == ["fail", "fail"]
    assert "error_rate < 0.05" in report.reason
    state = d.store.load(d.env)
    assert state.stable.revision == 1 and not d.target.running(bad)
    after = [o for o in outcomes if o.started > report.rollback.rollback.effective_at]
    assert after and not [o for o in after if o.failed]


def test_healthy_version_is_left_alone(deployment, serving_image):
    # the stub's mix for rows of 4 uniform(-1, 1) values: |mean| < 0.25 about 61% of the time
    reference = {"low": 0.195, "mid": 0.61, "high": 0.195}
    d = deployment(
        monitor={"interval_s": 0.7, "breaches": 2, "min_requests": 5, "reference": reference}
    )
    d.rollouts.start(serving_image)
    report, outcomes = under_load(d, lambda: LiveMonitor(d.rollouts).watch(10.0, max_windows=3))
    assert report.rollback is None and report.exit_code == 0
    assert [w.outcome for w in report.windows] == ["pass"] * 3
    assert all(w.values["prediction_psi"] < 0.05 for w in report.windows)
    assert outcomes and not [o for o in outcomes if o.failed]
