"""Canary rollouts on real containers behind a real nginx, under real loopback traffic.

The serving containers run the stub in serving_stub/ (a stand-in for the image the package stage
builds); its env vars make a good, an erroring, a slow and a drifting candidate.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from lockgate.delivery.rollout.rollouts import NothingToDo
from lockgate.delivery.rollout.traffic import LoadGenerator

pytestmark = pytest.mark.docker
RATE = 60  # requests/s: ~6 per 1.5 s window at 10%, enough for min_requests=5


def under_load(d, action, rate=RATE):
    """Run ``action()`` while load runs through the proxy; the load stops 0.5 s after it
    returns (at most 60 s in all), so slow machines stretch the test instead of breaking it."""
    load = LoadGenerator(d.target.url(), rate, 60.0).start()
    time.sleep(0.3)
    try:
        result = action()
        time.sleep(0.5)
    finally:
        outcomes = load.stop()
    return result, outcomes


def _routes(d) -> str:
    return (d.target.config_dir / "routes.conf").read_text()


def _serving(d, client) -> list[str]:
    found = client.containers.list(filters={"label": f"lockgate.delivery.env={d.env}"})
    return sorted(c.name for c in found if c.labels.get("lockgate.delivery.role") == "serving")


def test_good_candidate_goes_to_100_percent_without_a_failed_request(
    deployment, serving_image, docker_client
):
    d = deployment()
    assert d.rollouts.start(serving_image).status == "deployed"
    result, outcomes = under_load(
        d, lambda: d.rollouts.start(serving_image, {"PREDICTION_SHIFT": "0.01"})
    )

    assert result.status == "completed", result.reason
    assert [m["weight"] for m in result.measurements if m["outcome"] == "pass"] == [10, 25, 50]
    failed = [o for o in outcomes if o.failed]
    assert not failed, failed[:3]
    assert len(outcomes) >= RATE * 4
    state = d.store.load(d.env)
    assert state.phase == "completed" and state.stable.revision == 2 and state.canary is None
    assert _serving(d, docker_client) == [f"lockgate-{d.env}-r2"]
    assert _routes(d).count("    server ") == 1 and "weight=100" in _routes(d)
    # after the promotion, all traffic went to the new stable
    switched = result.extra["promoted"].effective_at
    late = {o.upstream for o in outcomes if o.started > switched}
    assert late == {d.target.upstream(state.stable)}


@pytest.mark.parametrize(
    ("name", "env", "metric"),
    [
        ("erroring", {"ERROR_RATE": "0.3"}, "error_rate"),
        ("slow", {"EXTRA_LATENCY_MS": "300"}, "p95_ms"),
        ("drifting", {"PREDICTION_SHIFT": "0.6"}, "prediction_psi"),
    ],
)
def test_bad_candidate_is_aborted_at_the_first_step(
    deployment, serving_image, docker_client, name, env, metric
):
    d = deployment()
    d.rollouts.start(serving_image)
    stable = d.store.load(d.env).stable
    result, outcomes = under_load(d, lambda: d.rollouts.start(serving_image, env))

    assert result.status == "aborted" and result.exit_code == 1
    assert result.reason.startswith(f"step 1 (10%): {metric} <"), result.reason
    (failing,) = [m for m in result.measurements if m["outcome"] == "fail"]
    assert failing["weight"] == 10
    assert any(
        c["condition"].startswith(metric) and c["outcome"] == "fail" for c in failing["conditions"]
    )
    state = d.store.load(d.env)
    assert state.phase == "aborted" and state.stable == stable and state.weights() == {stable: 100}
    assert _serving(d, docker_client) == [f"lockgate-{d.env}-r1"]
    canary_addr = f"lockgate-{d.env}-r2"
    # every failed request was answered by the candidate, before the rollback took effect
    stable_addr = d.target.upstream(stable)
    failed = [o for o in outcomes if o.failed]
    assert all(o.upstream and o.upstream != stable_addr for o in failed), failed[:3]
    assert all(o.started < result.rollback.effective_at for o in failed), canary_addr
    after = [o for o in outcomes if o.started > result.rollback.effective_at]
    assert after and all(not o.failed and o.upstream == stable_addr for o in after)
    if name == "erroring":
        assert failed  # the load really met the erroring candidate


def test_killed_canary_aborts_instead_of_hanging(deployment, serving_image, docker_client):
    d = deployment(canary={"steps": [{"weight": 25, "pause": {"duration": 20}}]})
    d.rollouts.start(serving_image)
    name = f"lockgate-{d.env}-r2"

    def kill_when_routed() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if "weight=25" in _routes(d):
                time.sleep(1.0)
                docker_client.containers.get(name).kill()
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_routed)
    killer.start()
    began = time.monotonic()
    result, outcomes = under_load(d, lambda: d.rollouts.start(serving_image))
    took = time.monotonic() - began - 0.8
    killer.join()

    assert result.status == "aborted"
    assert "canary does not answer" in result.reason and result.measurements[-1]["fatal"]
    assert took < 10, took  # the 20 s window ended as soon as the container died
    assert d.store.load(d.env).weights() == {d.store.load(d.env).stable: 100}
    # nginx retried the dead upstream's requests on the stable one
    assert not [o for o in outcomes if o.failed]


def test_manual_pause_waits_for_resume(deployment, serving_image):
    d = deployment(canary={"steps": [{"weight": 20, "pause": {}}, {"weight": 100}]})
    d.rollouts.start(serving_image)
    load = LoadGenerator(d.target.url(), RATE, 60.0).start()
    paused = d.rollouts.start(serving_image)
    assert paused.status == "paused" and paused.exit_code == 0  # waiting is not a failure
    assert f"lockgate rollout resume {d.env}" in paused.reason
    state = d.store.load(d.env)
    assert state.phase == "paused" and state.weight == 20 and "weight=20" in _routes(d)
    done = d.rollouts.resume()
    load.stop()
    assert done.status == "completed" and d.store.load(d.env).stable.revision == 2


def test_too_little_traffic_pauses_instead_of_passing(deployment, serving_image):
    d = deployment(analysis={"min_requests": 5, "max_extensions": 1})
    d.rollouts.start(serving_image)
    result = d.rollouts.start(serving_image)  # no load at all
    assert result.status == "paused" and "inconclusive" in result.reason
    assert [m["outcome"] for m in result.measurements] == ["inconclusive", "inconclusive"]
    state = d.store.load(d.env)
    assert state.phase == "paused" and state.stable.revision == 1
    record = json.loads(d.store.path(d.env).read_text())
    assert record["canary"]["revision"] == 2 and record["weight"] == 10


MANUAL_STEPS = {
    "steps": [{"weight": 20, "pause": {}}, {"weight": 50, "pause": {}}, {"weight": 100}]
}


def test_promote_full_skips_the_remaining_steps_and_records_them(deployment, serving_image):
    d = deployment(canary=MANUAL_STEPS)
    d.rollouts.start(serving_image)
    load = LoadGenerator(d.target.url(), RATE, 60.0).start()
    try:
        assert d.rollouts.start(serving_image).status == "paused"
        done = d.rollouts.promote_full("release manager says go")
    finally:
        outcomes = load.stop()
    assert done.status == "completed" and done.exit_code == 0
    skipped = done.measurements[-1]
    assert skipped["outcome"] == "skipped" and skipped["skipped_weights"] == [50, 100]
    assert "release manager says go" in done.reason
    state = d.store.load(d.env)
    assert state.phase == "completed" and state.stable.revision == 2 and state.canary is None
    assert _routes(d).count("    server ") == 1 and "weight=100" in _routes(d)
    assert [m["outcome"] for m in state.measurements] == ["pass", "skipped"]
    assert not [o for o in outcomes if o.failed]


def test_retry_rolls_the_aborted_candidate_out_again_as_a_new_revision(deployment, serving_image):
    d = deployment(canary=MANUAL_STEPS)
    d.rollouts.start(serving_image)
    load = LoadGenerator(d.target.url(), RATE, 60.0).start()
    try:
        d.rollouts.start(serving_image, {"PREDICTION_SHIFT": "0.01"})
        aborted = d.rollouts.abort("operator stopped it")
        assert aborted.status == "aborted"
        again = d.rollouts.retry()
    finally:
        load.stop()
    assert again.status == "paused", again.reason
    state = d.store.load(d.env)
    assert state.canary.revision == 3 and state.canary.env == (("PREDICTION_SHIFT", "0.01"),)
    assert state.phase == "paused" and state.weight == 20 and state.stable.revision == 1
    with pytest.raises(NothingToDo, match="no aborted rollout to retry"):
        d.rollouts.retry()
