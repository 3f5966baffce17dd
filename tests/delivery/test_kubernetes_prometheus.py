"""A Kubernetes canary that can pass: the Gateway API router with analysis from Prometheus.

No cluster can run where these tests run, so the target renders its manifests without applying
them, and the pods are stood in for by a loopback exporter that serves the ``lockgate_*`` series
with the ``namespace``/``pod`` labels a cluster's Prometheus gives pods. The Prometheus itself is
real (Debian's), scraping that exporter; lockgate's analysis queries it through its HTTP API."""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lockgate.delivery.config import EnvironmentDelivery
from lockgate.delivery.rollout.monitor import LiveMonitor
from lockgate.delivery.rollout.rollouts import Rollouts
from lockgate.delivery.rollout.state import StateStore
from lockgate.delivery.rollout.targets.base import Version
from lockgate.delivery.rollout.targets.kubernetes import KubernetesTarget
from tests.delivery.prometheus_kit import running_prometheus

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0)


class Pods:
    """What each revision's pod serves: requests per second, error share, latency, a prediction
    mix. Counters grow with time since the revision appeared, as a live pod's would."""

    def __init__(self) -> None:
        self.behaviour: dict[str, tuple[float, float, float, float]] = {}
        self.born: dict[str, float] = {}
        self.namespace = "ml"  # each test runs in a namespace of its own

    def set(self, revision: str, rps: float, errors: float, latency: float, ones: float) -> None:
        key = f"{self.namespace}/{revision}"
        self.behaviour[key] = (rps, errors, latency, ones)
        self.born[key] = time.time()

    def metrics(self) -> str:
        lines = []
        for key, (rps, errors, latency, ones) in self.behaviour.items():
            namespace, rev = key.split("/")
            labels = f'namespace="{namespace}",pod="model-{rev}-5d9c7-x2k4p"'
            total = rps * (time.time() - self.born[key])
            bad = total * errors
            lines.append(f'lockgate_requests_total{{{labels},code="200"}} {total - bad:.3f}')
            lines.append(f'lockgate_requests_total{{{labels},code="500"}} {bad:.3f}')
            for le in BUCKETS:
                count = total if latency <= le else 0.0
                lines.append(
                    f'lockgate_request_duration_seconds_bucket{{{labels},le="{le}"}} {count:.3f}'
                )
            lines.append(
                f'lockgate_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total:.3f}'
            )
            lines.append(f'lockgate_predictions_total{{{labels},label="1"}} {total * ones:.3f}')
            lines.append(
                f'lockgate_predictions_total{{{labels},label="0"}} {total * (1 - ones):.3f}'
            )
        return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pods, str]]:
    pods = Pods()

    class Exporter(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pods.metrics().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    exporter = ThreadingHTTPServer(("127.0.0.1", 0), Exporter)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    config = (
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: pods\n"
        "    scrape_interval: 500ms\n"
        "    scrape_timeout: 400ms\n"
        "    honor_labels: true\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter.server_address[1]}']}}]\n"
    )
    try:
        with running_prometheus(tmp_path_factory.mktemp("prometheus"), config) as url:
            yield pods, url
    finally:
        exporter.shutdown()
        exporter.server_close()


def controller(tmp_path: Path, prometheus: str, pods: Pods, pause_s: float = 3) -> Rollouts:
    """``pause_s``: each step's analysis window, long enough for several 500 ms scrapes."""
    pods.namespace = f"ns{time.time_ns()}"
    settings = EnvironmentDelivery.model_validate(
        {
            "target": "kubernetes",
            "kubernetes": {
                "namespace": pods.namespace,
                "app": "model",
                "prometheus_url": prometheus,
            },
            "canary": {
                "steps": [
                    {"weight": 10, "pause": {"duration": pause_s}},
                    {"weight": 50, "pause": {"duration": pause_s}},
                ]
            },
            "analysis": {"min_requests": 5, "min_predictions": 5, "max_extensions": 2},
            "monitor": {"interval_s": 3, "breaches": 2, "min_requests": 5},
        }
    )
    store = StateStore(tmp_path / "state")
    target = KubernetesTarget("prod", settings, store.folder)
    return Rollouts("prod", settings, target, store)


def _route(tmp_path: Path) -> dict[str, int]:
    doc = json.loads((tmp_path / "state" / "prod" / "manifests" / "route.json").read_text())
    (route,) = doc["items"]
    backends = route["spec"]["rules"][0]["backendRefs"]
    return {b["name"]: b["weight"] for b in backends}


def test_good_candidate_passes_every_step_and_is_promoted(tmp_path: Path, cluster) -> None:
    pods, url = cluster
    rollouts = controller(tmp_path, url, pods)
    pods.set("r1", rps=40, errors=0.0, latency=0.02, ones=0.5)
    assert rollouts.start("reg/model:1").status == "deployed"
    pods.set("r2", rps=40, errors=0.0, latency=0.02, ones=0.5)
    result = rollouts.start("reg/model:2")
    assert result.status == "completed", json.dumps(result.as_record())[-1500:]
    passed = [m for m in result.measurements if m["outcome"] == "pass"]
    assert [m["weight"] for m in passed] == [10, 50]
    assert all(m["values"]["requests"] > 5 and m["values"]["error_rate"] == 0 for m in passed)
    assert _route(tmp_path) == {"model-r2": 100}


@pytest.mark.parametrize(
    ("behaviour", "metric"),
    [
        ({"errors": 0.3, "latency": 0.02, "ones": 0.5}, "error_rate"),
        ({"errors": 0.0, "latency": 0.4, "ones": 0.5}, "p95_ms"),
        ({"errors": 0.0, "latency": 0.02, "ones": 0.95}, "prediction_psi"),
    ],
)
def test_bad_candidate_is_aborted_at_the_first_step(
    tmp_path: Path, cluster, behaviour: dict[str, float], metric: str
) -> None:
    pods, url = cluster
    rollouts = controller(tmp_path, url, pods)
    pods.set("r1", rps=40, errors=0.0, latency=0.02, ones=0.5)
    rollouts.start("reg/model:1")
    pods.set("r2", rps=40, **behaviour)
    result = rollouts.start("reg/model:2")
    assert result.status == "aborted", json.dumps(result.as_record())[-1500:]
    assert result.reason.startswith(f"step 1 (10%): {metric} <"), result.reason
    assert _route(tmp_path) == {"model-r1": 100}


def test_unreachable_prometheus_pauses_instead_of_passing(tmp_path: Path, cluster) -> None:
    pods, _ = cluster
    # no Prometheus answers, so a short window proves the same: each one ends inconclusive
    rollouts = controller(tmp_path, "http://127.0.0.1:9", pods, pause_s=0.5)
    pods.set("r1", rps=40, errors=0.0, latency=0.02, ones=0.5)
    rollouts.start("reg/model:1")
    result = rollouts.start("reg/model:2")
    assert result.status == "paused"
    assert "inconclusive" in result.reason and "unreachable" in result.reason
    assert [m["outcome"] for m in result.measurements] == ["inconclusive"] * 3


def test_monitor_reads_prometheus_and_rolls_back_a_breaching_release(
    tmp_path: Path, cluster
) -> None:
    pods, url = cluster
    rollouts = controller(tmp_path, url, pods)
    pods.set("r1", rps=40, errors=0.0, latency=0.02, ones=0.5)
    rollouts.start("reg/model:1")
    pods.set("r2", rps=40, errors=0.0, latency=0.02, ones=0.5)
    assert rollouts.start("reg/model:2").status == "completed"
    healthy = LiveMonitor(rollouts).watch(30.0, max_windows=1)
    assert healthy.rollback is None and [w.outcome for w in healthy.windows] == ["pass"]
    pods.set("r2", rps=40, errors=0.3, latency=0.02, ones=0.5)  # the live release turns bad
    report = LiveMonitor(rollouts).watch(30.0, max_windows=4)
    assert report.rollback is not None and report.exit_code == 1, report.reason
    assert [w.outcome for w in report.windows] == ["fail", "fail"]
    assert "error_rate" in report.reason
    assert rollouts.store.load("prod").stable.ref == "reg/model:1"
    assert _route(tmp_path) == {"model-r1": 100}


def _argo_phase(metric: dict, result: list[float]) -> str:
    """Argo's verdict on one measurement (``EvaluateResult``): success without failure is
    Successful, failure is Failed, neither is Inconclusive. Argo evaluates the conditions with
    its expression language; the forms lockgate writes (``len(result) == 1 && !isNaN(result[0])
    && result[0] < 0.01``, ``false``) read the same in Python once ``&&``/``!`` are spelled
    out, which is all this evaluator does (no Argo controller can run here)."""

    def holds(condition: str) -> bool:
        text = condition.replace("&&", " and ").replace("!isNaN(", "not isNaN(")
        names = {"len": len, "isNaN": math.isnan, "result": result, "false": False}
        return bool(eval(text, {"__builtins__": {}}, names))  # the fixed forms above

    if holds(metric["failureCondition"]):
        return "Failed"
    return "Successful" if holds(metric["successCondition"]) else "Inconclusive"


def test_argo_analysis_template_judges_pods_through_the_real_prometheus(
    tmp_path: Path, cluster
) -> None:
    """The argo-rollouts router's AnalysisTemplate, its queries run as Argo's Prometheus
    provider runs them (``/api/v1/query``, ``{{args.*}}`` substituted): a good canary's pods
    pass every metric, an erroring or slow one fails its metric, pods with no series yet are
    inconclusive (Argo then pauses), never a pass."""
    pods, url = cluster
    pods.namespace = f"ns{time.time_ns()}"
    settings = EnvironmentDelivery.model_validate(
        {
            "target": "kubernetes",
            "kubernetes": {
                "namespace": pods.namespace,
                "router": "argo-rollouts",
                "prometheus_url": url,
            },
            "analysis": {"min_requests": 5},
        }
    )
    docs = KubernetesTarget("prod", settings, tmp_path).argo_manifests(Version(2, "m:2"))
    (template,) = [d for d in docs if d["kind"] == "AnalysisTemplate"]
    metrics = template["spec"]["metrics"]
    # pod-template hashes: Argo names a canary's pods <rollout>-<hash>-<suffix>
    pods.set("6d4f9c7b8", rps=40, errors=0.0, latency=0.02, ones=0.5)
    pods.set("7b8c5d9f4", rps=40, errors=0.3, latency=0.02, ones=0.5)
    pods.set("5c7d8e9fa", rps=40, errors=0.0, latency=0.4, ones=0.5)
    seen = urllib.parse.urlencode(
        {"query": f'lockgate_requests_total{{namespace="{pods.namespace}"}}'}
    )
    deadline = time.monotonic() + 60  # Prometheus applies new scrape targets every 5 s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/v1/query?{seen}", timeout=10) as answer:
            if json.loads(answer.read())["data"]["result"]:
                break
        time.sleep(0.5)
    time.sleep(5)  # a whole window of samples

    def judge(revision: str) -> dict[str, str]:
        phases = {}
        for metric in metrics:
            query = metric["provider"]["prometheus"]["query"]
            query = query.replace("{{args.revision}}", revision).replace("{{args.window}}", "4s")
            assert metric["provider"]["prometheus"]["address"] == url
            params = urllib.parse.urlencode({"query": query})
            with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=10) as answer:
                body = json.loads(answer.read())
            assert body["status"] == "success", (query, body)
            values = [float(series["value"][1]) for series in body["data"]["result"]]
            phases[metric["name"]] = _argo_phase(metric, values)
        return phases

    everything = ["requests", "error-rate", "p95-ms"]
    assert [m["name"] for m in metrics] == everything
    assert judge("6d4f9c7b8") == dict.fromkeys(everything, "Successful")
    assert judge("7b8c5d9f4")["error-rate"] == "Failed"
    assert judge("5c7d8e9fa") == {**dict.fromkeys(everything, "Successful"), "p95-ms": "Failed"}
    assert judge("0000000000") == dict.fromkeys(everything, "Inconclusive")  # no pods yet
