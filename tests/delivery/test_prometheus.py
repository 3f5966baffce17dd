"""Canary analysis read from a real Prometheus (Debian's ``prometheus``), started here on
loopback. It discovers the serving containers through the Docker engine (``docker_sd_configs``)
and scrapes their ``/metrics``; lockgate asks it through the HTTP API. The candidates are the
ones ``test_canary.py`` judges by scraping directly, with the same verdicts expected."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from lockgate.delivery.rollout.prometheus import PrometheusSource
from tests.delivery.prometheus_kit import free_port, running_prometheus
from tests.delivery.test_canary import under_load

CONFIG = """\
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: lockgate-serving
    scrape_interval: 500ms
    scrape_timeout: 400ms
    docker_sd_configs: [{host: "unix:///var/run/docker.sock", refresh_interval: 1s}]
    relabel_configs:
      - {source_labels: [__meta_docker_container_label_lockgate_delivery_role], regex: serving,
         action: keep}
      - {source_labels: [__meta_docker_port_private], regex: "8080", action: keep}
      - {source_labels: [__meta_docker_network_name], regex: "lockgate-.+", action: keep}
      - {source_labels: [__meta_docker_container_label_lockgate_delivery_env],
         target_label: lockgate_env}
      - {source_labels: [__meta_docker_container_label_lockgate_delivery_version],
         target_label: lockgate_version}
"""


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), CONFIG) as url:
        yield url


def test_bad_answers_give_no_value_never_a_pass(prometheus: str) -> None:
    queries = {
        "error_rate": "sum(rate(lockgate_requests_total{${canary}}[${window}]",  # unclosed
        "p95_ms": 'vector(1) and on() absent(up{job="no-such-job"}) == 0',  # empty result
        "p99_ms": "vector(12.5)",
        "requests": "up",  # one series per target, or none: not one number
    }
    source = PrometheusSource(prometheus, "nowhere", queries, predictions=None)
    reading = source.read("r2", "r1", 5.0, time.time())
    assert reading.values == {"error_rate": None, "p95_ms": None, "p99_ms": 12.5, "requests": None}
    assert reading.problems["error_rate"].startswith("query rejected: ")
    assert "parse error" in reading.problems["error_rate"]
    assert reading.problems["p95_ms"] == "0 series returned; the query must return one"
    closed = PrometheusSource(f"http://127.0.0.1:{free_port()}", "nowhere", {"p99_ms": "vector(1)"})
    far = closed.read("r2", "r1", 5.0, time.time())
    assert far.values["p99_ms"] is None and "unreachable" in far.problems["p99_ms"]
    assert far.values["prediction_psi"] is None


def test_templates_name_the_two_versions(prometheus: str) -> None:
    source = PrometheusSource(prometheus, "prod")
    text = source.render("x{${canary}} / x{${stable}}[${window}]", "r3", "r2", 12.2)
    assert text == (
        'x{lockgate_env="prod",lockgate_version="r3"} / '
        'x{lockgate_env="prod",lockgate_version="r2"}[13s]'
    )


STEPS = {
    "steps": [{"weight": 10, "pause": {"duration": 3}}, {"weight": 50, "pause": {"duration": 3}}]
}


@pytest.mark.docker
@pytest.mark.parametrize(
    ("name", "env", "metric"),
    [
        ("good", {"PREDICTION_SHIFT": "0.01"}, None),
        ("erroring", {"ERROR_RATE": "0.3"}, "error_rate"),
        ("slow", {"EXTRA_LATENCY_MS": "300"}, "p95_ms"),
        ("drifting", {"PREDICTION_SHIFT": "0.6"}, "prediction_psi"),
    ],
)
def test_prometheus_verdicts_match_direct_scraping(
    prometheus: str, deployment, serving_image, name, env, metric
) -> None:
    d = deployment(canary=STEPS, analysis={"prometheus": {"url": prometheus}})
    assert d.rollouts.start(serving_image).status == "deployed"
    result, _ = under_load(d, lambda: d.rollouts.start(serving_image, env))
    judged = [m for m in result.measurements if m["outcome"] != "inconclusive"]
    if metric is None:
        assert result.status == "completed", json.dumps(result.as_record())[-1500:]
        assert [m["weight"] for m in judged] == [10, 50]
        assert all(m["values"]["requests"] for m in judged)
        return
    assert result.status == "aborted", json.dumps(result.as_record())[-1500:]
    assert result.reason.startswith(f"step 1 (10%): {metric} <"), result.reason
    failing = judged[-1]
    assert any(
        c["condition"].startswith(metric) and c["outcome"] == "fail" for c in failing["conditions"]
    )
