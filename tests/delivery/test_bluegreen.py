"""Blue-green on real containers behind nginx: switch and switch back under load."""

from __future__ import annotations

import pytest

from tests.delivery.test_canary import under_load

pytestmark = pytest.mark.docker


def test_switch_and_switch_back_under_load_lose_no_request(
    deployment, serving_image, docker_client
):
    d = deployment(strategy="blue-green")
    d.rollouts.start(serving_image)
    blue = d.store.load(d.env).stable
    switched, outcomes = under_load(d, lambda: d.rollouts.start(serving_image))
    assert switched.status == "completed", switched.reason
    state = d.store.load(d.env)
    green = state.stable
    assert green.revision == 2 and state.warm == blue and d.target.running(blue)
    assert d.target.running(green)
    cut = switched.extra["promoted"].effective_at
    assert {o.upstream for o in outcomes if o.started > cut} == {d.target.upstream(green)}

    back, outcomes_back = under_load(d, lambda: d.rollouts.abort("switch back"))
    assert back.status == "rolled-back"
    assert d.store.load(d.env).stable == blue and not d.target.running(green)
    cut = back.rollback.effective_at
    assert {o.upstream for o in outcomes_back if o.started > cut} == {d.target.upstream(blue)}
    failed = [o for o in outcomes + outcomes_back if o.failed]
    assert not failed, failed[:3]


def test_smoke_test_stops_an_erroring_green_before_any_client_sees_it(deployment, serving_image):
    d = deployment(strategy="blue-green")
    d.rollouts.start(serving_image)
    result, outcomes = under_load(d, lambda: d.rollouts.start(serving_image, {"ERROR_RATE": "0.5"}))
    assert result.status == "aborted" and result.reason.startswith("smoke test fail: error_rate <")
    assert d.store.load(d.env).stable.revision == 1
    assert not [o for o in outcomes if o.failed]  # smoke requests never went through the router
