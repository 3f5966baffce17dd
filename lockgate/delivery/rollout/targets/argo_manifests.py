"""The ``argo-rollouts`` router's manifests, as plain dicts (pure functions, deterministic).

- a ``Rollout`` whose canary steps mirror ``canary.steps``: ``setWeight``, a ``pause`` as long
  as the step's analysis window, then an inline ``analysis`` of that window (a manual step adds
  ``pause: {}`` after its analysis, as lockgate analyses first and then waits for a person);
- an ``AnalysisTemplate`` with the Prometheus provider: the same PromQL as lockgate's own
  Prometheus analysis (``delivery/rollout/prometheus.py``), with the canary's pods selected by
  name (``<app>-<pod-template-hash>-...``, the hash passed as ``args.revision``) and the window
  passed per step as ``args.window``. One measurement per step (no ``interval``: Argo runs an
  interval metric without ``count`` until the run is stopped, and an inline step would never
  end). Conditions are written so that an empty answer, several series or NaN is neither a
  success nor a failure: Argo then calls the measurement *Inconclusive* and pauses the Rollout,
  as lockgate does; too little traffic (``min_requests``) is inconclusive the same way;
- the Services Argo splits traffic with (``<app>-stable``, ``<app>-canary``; Argo adds the pod
  hash to their selectors), the ``<app>`` Service, and the ``HTTPRoute`` the Gateway API
  traffic-router plugin turns weights on (its ``backendRefs`` name the two Services).
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

from lockgate.delivery.rollout.conditions import Condition
from lockgate.delivery.rollout.prometheus import DEFAULT_QUERIES
from lockgate.delivery.rollout.targets.kubernetes_manifests import deployment, http_route, service

# the operator that fails a condition, so that a value neither passes nor fails only when it
# is missing or NaN (Go's NaN compares false with everything but ``!=``; isNaN guards that)
NEGATION = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
PLUGIN = "argoproj-labs/gatewayAPI"


def _number(op: str, threshold: float) -> str:
    return f"len(result) == 1 && !isNaN(result[0]) && result[0] {op} {threshold:g}"


def analysis_template(
    app: str,
    conditions: Sequence[Condition],
    settings: Any,
    *,
    address: str,
    queries: Mapping[str, str] | None = None,
    min_requests: int = 0,
) -> dict[str, Any] | None:
    """None when no condition has a PromQL query (drift is lockgate's own): no analysis."""
    templates = dict(DEFAULT_QUERIES if queries is None else queries)
    pods = f'namespace="{settings.namespace}",pod=~"{app}-{{{{args.revision}}}}-.+"'

    def promql(metric: str) -> str:
        return string.Template(templates[metric]).safe_substitute(
            canary=pods, window="{{args.window}}"
        )

    metrics = []
    if min_requests and "requests" in templates:
        metrics.append(
            {
                "name": "requests",
                "successCondition": _number(">=", min_requests),
                "failureCondition": "false",  # too little traffic is inconclusive, never a fail
                "provider": {"prometheus": {"address": address, "query": promql("requests")}},
            }
        )
    for condition in conditions:
        if condition.metric not in templates or condition.metric == "requests":
            continue
        metrics.append(
            {
                "name": condition.metric.replace("_", "-"),
                "successCondition": _number(condition.op, condition.threshold),
                "failureCondition": _number(NEGATION[condition.op], condition.threshold),
                "provider": {"prometheus": {"address": address, "query": promql(condition.metric)}},
            }
        )
    if all(m["name"] == "requests" for m in metrics):
        return None
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": f"{app}-analysis", "namespace": settings.namespace},
        "spec": {"args": [{"name": "revision"}, {"name": "window"}], "metrics": metrics},
    }


def canary_steps(
    app: str, steps: Sequence[Any], window_s: float, analysed: bool
) -> list[dict[str, Any]]:
    """``canary.steps`` as Argo steps; the final 100 % step is Argo's own promotion."""
    argo_steps: list[dict[str, Any]] = []
    for step in steps:
        if step.weight >= 100:
            continue
        manual = step.pause.duration is None
        window = max(1, int(window_s if manual else step.pause.duration))
        argo_steps += [{"setWeight": step.weight}, {"pause": {"duration": f"{window}s"}}]
        if analysed:
            argo_steps.append(
                {
                    "analysis": {
                        "templates": [{"templateName": f"{app}-analysis"}],
                        "args": [
                            {"name": "revision", "valueFrom": {"podTemplateHashValue": "Latest"}},
                            {"name": "window", "value": f"{window}s"},
                        ],
                    }
                }
            )
        if manual:
            argo_steps.append({"pause": {}})
    return argo_steps


def rollout(
    app: str, image: str, steps: list[dict[str, Any]], settings: Any, env: Mapping[str, str]
) -> dict[str, Any]:
    template = deployment(app, "rollout", image, settings, env)["spec"]["template"]
    template["metadata"]["labels"] = {"app.kubernetes.io/name": app}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": app, "namespace": settings.namespace},
        "spec": {
            "replicas": settings.replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": app}},
            "template": template,
            "strategy": {
                "canary": {
                    "canaryService": f"{app}-canary",
                    "stableService": f"{app}-stable",
                    "trafficRouting": {
                        "plugins": {PLUGIN: {"httpRoute": app, "namespace": settings.namespace}}
                    },
                    "steps": steps,
                }
            },
        },
    }


def argo_documents(
    app: str, image: str, delivery: Any, env: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Everything ``rollout start`` applies (``delivery`` is an ``EnvironmentDelivery``)."""
    k8s, analysis = delivery.kubernetes, delivery.analysis
    prometheus = analysis.prometheus
    template = analysis_template(
        app,
        analysis.parsed(),
        k8s,
        address=prometheus.url if prometheus else k8s.prometheus_url,
        queries=prometheus.queries if prometheus else None,
        min_requests=analysis.min_requests,
    )
    steps = canary_steps(app, delivery.canary.steps, analysis.window_s, template is not None)
    selector_only = {"app.kubernetes.io/name": app}
    services = []
    for role in ("stable", "canary"):
        document = service(app, None, k8s)
        document["metadata"]["name"] = f"{app}-{role}"
        document["spec"]["selector"] = dict(selector_only)
        services.append(document)
    return [
        rollout(app, image, steps, k8s, env),
        *([template] if template else []),
        service(app, None, k8s),
        *services,
        http_route(app, {"stable": 100, "canary": 0}, k8s),
    ]
