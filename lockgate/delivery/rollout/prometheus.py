"""Analysis values from a Prometheus server, through its HTTP API (``/api/v1/query``).

Each metric a condition names may have a PromQL query. Queries are templates: ``${canary}`` and
``${stable}`` become label matchers of the two versions (``selector`` rendered with
``${env}`` and ``${version}``), ``${window}`` the analysis window (``12s``). A query must return
one sample; anything else gives the metric no value, which makes its condition *inconclusive*
(extended, then paused), never passed: an unreachable server, an empty result, more than one
series, a malformed query (Prometheus's own error is kept as the reason).

``predictions`` is a vector query by ``label`` run once per version; the canary's mix against
the stable's gives ``prediction_psi`` / ``prediction_js`` as with direct scraping.
"""

from __future__ import annotations

import json
import math
import string
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lockgate.delivery.rollout.drift import jensen_shannon, psi

DEFAULT_SELECTOR = 'lockgate_env="${env}",lockgate_version="${version}"'
_REQ = "lockgate_requests_total"
_LAT = "lockgate_request_duration_seconds_bucket"
DEFAULT_QUERIES = {
    "requests": f"sum(increase({_REQ}{{${{canary}}}}[${{window}}]))",
    "error_rate": (
        f'(sum(increase({_REQ}{{${{canary}},code=~"5.."}}[${{window}}])) or vector(0))'
        f" / sum(increase({_REQ}{{${{canary}}}}[${{window}}]))"
    ),
    "p95_ms": (
        f"1000 * histogram_quantile(0.95, sum by (le) (rate({_LAT}{{${{canary}}}}[${{window}}])))"
    ),
    "p99_ms": (
        f"1000 * histogram_quantile(0.99, sum by (le) (rate({_LAT}{{${{canary}}}}[${{window}}])))"
    ),
}
DEFAULT_PREDICTIONS = (
    "sum by (label) (increase(lockgate_predictions_total{${selector}}[${window}]))"
)


class QueryFailed(Exception):
    """Prometheus gave no usable answer; the message says why."""


@dataclass(frozen=True)
class PrometheusReading:
    values: dict[str, float | None]
    problems: dict[str, str] = field(default_factory=dict)  # metric -> why it has no value
    predictions: dict[str, float] = field(default_factory=dict)
    baseline_predictions: dict[str, float] = field(default_factory=dict)


class PrometheusSource:
    """Reads the analysis metrics of a canary and its stable version from Prometheus."""

    def __init__(
        self,
        url: str,
        env: str,
        queries: Mapping[str, str] | None = None,
        *,
        selector: str = DEFAULT_SELECTOR,
        predictions: str | None = DEFAULT_PREDICTIONS,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.env = env
        self.queries = dict(DEFAULT_QUERIES if queries is None else queries)
        self.selector = selector
        self.predictions = predictions
        self.timeout_s = timeout_s

    def matcher(self, version: str) -> str:
        return string.Template(self.selector).safe_substitute(env=self.env, version=version)

    def render(self, template: str, canary: str, stable: str | None, window_s: float) -> str:
        return string.Template(template).safe_substitute(
            canary=self.matcher(canary),
            stable=self.matcher(stable) if stable else 'lockgate_version="none"',
            window=f"{max(1, math.ceil(window_s))}s",
        )

    def _answer(self, promql: str, at: float) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"query": promql, "time": f"{at:.3f}"})
        request = urllib.request.Request(f"{self.url}/api/v1/query?{query}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                body = json.loads(answer.read())
        except urllib.error.HTTPError as error:  # 400/422: the query itself is wrong
            try:
                body = json.loads(error.read())
            except ValueError:
                raise QueryFailed(f"Prometheus answered HTTP {error.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise QueryFailed(f"Prometheus at {self.url} unreachable: {reason}") from None
        if body.get("status") != "success":
            raise QueryFailed(f"query rejected: {body.get('error', 'no reason given')}")
        result = body.get("data", {}).get("result")
        return result if isinstance(result, list) else []

    def scalar(self, promql: str, at: float) -> float:
        series = self._answer(promql, at)
        if len(series) != 1:
            raise QueryFailed(f"{len(series)} series returned; the query must return one")
        value = float(series[0]["value"][1])  # [time, "value"]
        if math.isnan(value) or math.isinf(value):
            raise QueryFailed(f"value {value} (no traffic in the window?)")
        return value

    def mix(self, selector: str, window_s: float, at: float) -> dict[str, float]:
        assert self.predictions is not None
        promql = string.Template(self.predictions).safe_substitute(
            selector=selector, window=f"{max(1, math.ceil(window_s))}s"
        )
        mix = {}
        for series in self._answer(promql, at):
            label = str(series.get("metric", {}).get("label", ""))
            mix[label] = float(series["value"][1])
        return mix

    def read(
        self, canary: str, stable: str | None, window_s: float, at: float
    ) -> PrometheusReading:
        values: dict[str, float | None] = {}
        problems: dict[str, str] = {}
        for metric, template in self.queries.items():
            try:
                values[metric] = self.scalar(self.render(template, canary, stable, window_s), at)
            except QueryFailed as error:
                values[metric], problems[metric] = None, str(error)
        reading = PrometheusReading(values, problems)
        if self.predictions is None:
            return reading
        try:
            ours = self.mix(self.matcher(canary), window_s, at)
            theirs = self.mix(self.matcher(stable), window_s, at) if stable else {}
        except QueryFailed as error:
            problems["prediction_psi"] = problems["prediction_js"] = str(error)
            values["prediction_psi"] = values["prediction_js"] = None
            return reading
        if ours and theirs:
            values["prediction_psi"] = psi(theirs, ours)
            values["prediction_js"] = jensen_shannon(theirs, ours)
        else:
            values["prediction_psi"] = values["prediction_js"] = None
            problems["prediction_psi"] = problems["prediction_js"] = "empty prediction mix"
        return PrometheusReading(values, problems, ours, theirs)


def pod_selector(namespace: str, app: str) -> str:
    """A Kubernetes version's pods as a cluster's Prometheus labels them: the Deployment
    ``<app>-r<N>`` names its pods ``<app>-r<N>-<hash>-<id>``."""
    return f'namespace="{namespace}",pod=~"{app}-${{version}}-.+"'


def analysis_source(env: str, delivery: Any) -> PrometheusSource | None:
    """Where an environment's analysis reads from (``delivery`` is an ``EnvironmentDelivery``):
    ``analysis.prometheus`` when set; the cluster's Prometheus (``kubernetes.prometheus_url``)
    for the Kubernetes target, which has no per-version URL to scrape; else None (scrape)."""
    if delivery.analysis.prometheus is not None:
        return prometheus_source(env, delivery.analysis.prometheus)
    if delivery.target == "kubernetes":
        k8s = delivery.kubernetes
        return PrometheusSource(
            k8s.prometheus_url, env, selector=pod_selector(k8s.namespace, k8s.app)
        )
    return None


def prometheus_source(env: str, settings: Any) -> PrometheusSource | None:
    """The source ``analysis.prometheus`` asks for (a ``PrometheusAnalysis``), or None."""
    if settings is None:
        return None
    return PrometheusSource(
        settings.url,
        env,
        settings.queries,
        selector=settings.selector,
        timeout_s=settings.timeout_s,
    )
