"""The pure parts of analysis: conditions, Prometheus text, quantiles, drift, the access log,
the nginx routing file and the state record."""

from __future__ import annotations

import math

import pytest

from lockgate.delivery.config import DeliveryConfigError, load_delivery_config
from lockgate.delivery.rollout.accesslog import parse_line, stats_for
from lockgate.delivery.rollout.analysis import judge
from lockgate.delivery.rollout.conditions import ConditionError, parse_condition
from lockgate.delivery.rollout.drift import jensen_shannon, psi
from lockgate.delivery.rollout.scrape import histogram_quantile, parse_metrics, window
from lockgate.delivery.rollout.state import RolloutState, StateStore
from lockgate.delivery.rollout.targets.base import Version
from lockgate.delivery.rollout.targets.nginx_routes import render_routes
from lockgate.delivery.rollout.traffic import NotLoopback, loopback_address

METRICS = """\
# TYPE lockgate_requests_total counter
lockgate_requests_total{code="200"} 90
lockgate_requests_total{code="500"} 10
lockgate_request_duration_seconds_bucket{le="0.1"} 50
lockgate_request_duration_seconds_bucket{le="0.2"} 100
lockgate_request_duration_seconds_bucket{le="+Inf"} 100
lockgate_predictions_total{label="cat"} 30
lockgate_predictions_total{label="dog"} 70
"""


def test_conditions_parse_without_eval_and_judge():
    c = parse_condition(" p95_ms<=200 ")
    assert (c.metric, c.op, c.threshold) == ("p95_ms", "<=", 200.0)
    assert c.check({"p95_ms": 250}).outcome == "fail" and c.check({}).outcome == "inconclusive"
    for bad in ("__import__('os') < 1", "error_rate < 1; x", "error_rate<", "latency < 3"):
        with pytest.raises(ConditionError):
            parse_condition(bad)
    conds = [parse_condition("error_rate < 0.01")]
    assert judge(conds, {"requests": 3, "error_rate": 0.5}, 5)[0] == "inconclusive"
    assert judge(conds, {"requests": 30, "error_rate": 0.5}, 5)[0] == "fail"
    assert judge(conds, {"requests": 30, "error_rate": 0.0}, 5)[0] == "pass"


def test_scrape_deltas_quantiles_and_restarts():
    before = parse_metrics(METRICS)
    after = parse_metrics(
        METRICS.replace(" 90", " 190")
        .replace('"+Inf"} 100', '"+Inf"} 200')
        .replace('"0.2"} 100', '"0.2"} 200')
        .replace('"0.1"} 50', '"0.1"} 150')
    )
    w = window(before, after)
    assert w.requests == 100 and w.error_rate() == 0.0
    assert w.quantile_ms(0.5) == pytest.approx(50.0)  # 100 new requests, all <= 0.1 s
    assert histogram_quantile(0.95, before.buckets) == pytest.approx(190.0)
    restarted = window(after, before)  # counters went down: the process restarted
    assert restarted.requests == 100
    assert histogram_quantile(0.5, {math.inf: 0.0}) is None


def test_drift_measures():
    same = {"a": 50, "b": 50}
    assert psi(same, same) == pytest.approx(0.0) and jensen_shannon(same, same) == pytest.approx(
        0.0
    )
    shifted = {"a": 10, "b": 90}
    assert psi(same, shifted) == pytest.approx(
        0.4 * math.log(0.9 / 0.5) + 0.4 * math.log(0.5 / 0.1)
    )
    assert 0.0 < jensen_shannon(same, shifted) < 1.0
    assert jensen_shannon({"a": 1}, {"b": 1}) == pytest.approx(1.0, abs=1e-3)
    assert psi({}, same) is None


def test_access_log_lines_with_retries():
    line = '1700000000.123 200 0.012 "10.0.0.3:8080, 10.0.0.2:8080" "502, 200" "0.001, 0.010"'
    first, second = parse_line(line)
    assert (first.upstream, first.status, second.upstream, second.status) == (
        "10.0.0.3:8080",
        502,
        "10.0.0.2:8080",
        200,
    )
    stats = stats_for([first, second], "10.0.0.3:8080")
    assert stats.requests == 1 and stats.error_rate == 1.0
    assert parse_line("garbage") == []


def test_routes_file_weights_and_empty_upstream():
    text = render_routes({"10.0.0.2:8080": 90, "10.0.0.3:8080": 10, "10.0.0.4:8080": 0}, 7)
    assert "server 10.0.0.2:8080 weight=90" in text and "server 10.0.0.3:8080 weight=10" in text
    assert "10.0.0.4" not in text and "proxy_next_upstream error timeout http_502 http_503" in text
    assert "http_500" not in text
    assert 'return 503 "no version is routed' in render_routes({}, 1)


def test_state_round_trip_and_weights(tmp_path):
    store = StateStore(tmp_path)
    v1, v2 = Version(1, "img:1"), Version(2, "img:2", (("K", "V"),))
    state = store.save(RolloutState("prod", "progressing", stable=v1, canary=v2, weight=25))
    loaded = store.load("prod")
    assert loaded == state and loaded.weights() == {v1: 75, v2: 25}
    assert loaded.evolve(phase="aborted").weights() == {v1: 100}
    assert not list(tmp_path.glob(".*.tmp"))


def test_config_errors_name_the_field(tmp_path):
    path = tmp_path / "delivery.yaml"
    path.write_text("environments:\n  prod:\n    analysis:\n      conditions: ['error_rate = 1']\n")
    with pytest.raises(DeliveryConfigError, match=r"environments\.prod\.analysis\.conditions"):
        load_delivery_config(path)
    path.write_text("environments: {prod: {strategy: linear}}\n")
    with pytest.raises(DeliveryConfigError, match="strategy"):
        load_delivery_config(path)
    with pytest.raises(DeliveryConfigError, match="no environment 'qa'"):
        load_delivery_config(path.with_name("none.yaml")).environment("qa")


def test_load_generator_only_targets_loopback():
    assert loopback_address("http://127.0.0.9:81") == ("127.0.0.9", 81)
    for url in ("http://10.0.0.1:80", "http://example.invalid", "http://[::1]:80"):
        with pytest.raises(NotLoopback):
            loopback_address(url)


def test_drift_is_not_judged_on_a_handful_of_predictions():
    from lockgate.delivery.rollout.analysis import enough_predictions, judge
    from lockgate.delivery.rollout.conditions import parse_condition

    stable, canary = {"yes": 40.0, "no": 60.0}, {"yes": 3.0, "no": 0.0}
    assert not enough_predictions(stable, canary, 50)
    assert enough_predictions(stable, {"yes": 30.0, "no": 25.0}, 50)
    assert enough_predictions(stable, canary, 0)  # no minimum
    psi = parse_condition("prediction_psi < 0.2")
    errors = parse_condition("error_rate < 0.01")
    outcome, _, reason = judge(
        [errors, psi], {"requests": 30, "error_rate": 0.0, "prediction_psi": None}, 20
    )
    assert outcome == "inconclusive" and "prediction_psi" in reason
    outcome, _, _ = judge(
        [errors, psi], {"requests": 30, "error_rate": 0.0, "prediction_psi": 0.9}, 20
    )
    assert outcome == "fail"
