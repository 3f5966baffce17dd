"""Kubernetes manifests for a rollout, as plain dicts (pure functions, deterministic).

- one ``Deployment`` + ``Service`` per version (``<app>-r<N>``), and a ``Service`` ``<app>``;
- ``gateway-api``: an ``HTTPRoute`` whose ``backendRefs`` carry the weights lockgate sets step
  by step (lockgate drives the canary and reads metrics itself);
- ``argo-rollouts``: a ``Rollout`` with canary steps (``setWeight``, ``pause``, ``analysis``)
  and an ``AnalysisTemplate`` with Prometheus queries built from the analysis conditions, for
  clusters where the Argo Rollouts controller drives the canary instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lockgate.delivery.rollout.conditions import Condition

# condition metric -> PromQL over the serving image's metrics, for one version's pods
PROMQL = {
    "error_rate": (
        'sum(rate(lockgate_requests_total{{code=~"5..",{sel}}}[{w}])) / '
        "sum(rate(lockgate_requests_total{{{sel}}}[{w}]))"
    ),
    "p50_ms": "1000 * histogram_quantile(0.5, sum by (le) "
    "(rate(lockgate_request_duration_seconds_bucket{{{sel}}}[{w}])))",
    "p95_ms": "1000 * histogram_quantile(0.95, sum by (le) "
    "(rate(lockgate_request_duration_seconds_bucket{{{sel}}}[{w}])))",
    "p99_ms": "1000 * histogram_quantile(0.99, sum by (le) "
    "(rate(lockgate_request_duration_seconds_bucket{{{sel}}}[{w}])))",
    "requests": "sum(increase(lockgate_requests_total{{{sel}}}[{w}]))",
}
LABEL = "lockgate.dev/revision"


def _labels(app: str, revision: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, LABEL: revision}


def deployment(
    app: str, revision: str, image: str, settings: Any, env: Mapping[str, str]
) -> dict[str, Any]:
    labels = _labels(app, revision)
    container: dict[str, Any] = {
        "name": "serving",
        "image": image,
        "ports": [{"name": "http", "containerPort": settings.container_port}],
        "readinessProbe": {"httpGet": {"path": "/ping", "port": "http"}, "periodSeconds": 2},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
    }
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"{app}-{revision}",
            "namespace": settings.namespace,
            "labels": labels,
        },
        "spec": {
            "replicas": settings.replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def service(app: str, revision: str | None, settings: Any) -> dict[str, Any]:
    selector = _labels(app, revision) if revision else {"app.kubernetes.io/name": app}
    name = f"{app}-{revision}" if revision else app
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": settings.namespace},
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": settings.container_port}],
        },
    }


def http_route(app: str, weights: Mapping[str, int], settings: Any) -> dict[str, Any]:
    """``weights`` maps revision names (``r3``) to percents."""
    backends = [
        {"name": f"{app}-{rev}", "port": 80, "weight": weight}
        for rev, weight in sorted(weights.items())
    ]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": app, "namespace": settings.namespace},
        "spec": {
            "parentRefs": [{"name": settings.gateway}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": backends,
                }
            ],
        },
    }


def analysis_template(
    app: str, conditions: Sequence[Condition], settings: Any, failure_limit: int, window: str = "1m"
) -> dict[str, Any]:
    metrics = []
    for condition in conditions:
        query = PROMQL.get(condition.metric)
        if query is None:  # drift and proxy metrics are computed by lockgate, not by PromQL
            continue
        sel = f'namespace="{settings.namespace}",{LABEL}="{{{{args.revision}}}}"'
        metrics.append(
            {
                "name": condition.metric.replace("_", "-"),
                "interval": window,
                "failureLimit": failure_limit,
                "successCondition": f"result[0] {condition.op} {condition.threshold:g}",
                "provider": {
                    "prometheus": {
                        "address": settings.prometheus_url,
                        "query": query.format(sel=sel, w=window),
                    }
                },
            }
        )
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": f"{app}-analysis", "namespace": settings.namespace},
        "spec": {"args": [{"name": "revision"}], "metrics": metrics},
    }


def rollout(
    app: str, image: str, steps: Sequence[Any], settings: Any, env: Mapping[str, str]
) -> dict[str, Any]:
    """An Argo ``Rollout``: each lockgate step becomes setWeight, pause, analysis."""
    argo_steps: list[dict[str, Any]] = []
    for step in steps:
        if step.weight >= 100:
            continue
        argo_steps.append({"setWeight": step.weight})
        duration = step.pause.duration
        argo_steps.append({"pause": {} if duration is None else {"duration": f"{int(duration)}s"}})
        argo_steps.append(
            {
                "analysis": {
                    "templates": [{"templateName": f"{app}-analysis"}],
                    "args": [{"name": "revision", "valueFrom": {"podTemplateHashValue": "Latest"}}],
                }
            }
        )
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
                        "plugins": {
                            "argoproj-labs/gatewayAPI": {
                                "httpRoute": app,
                                "namespace": settings.namespace,
                            }
                        }
                    },
                    "steps": argo_steps,
                }
            },
        },
    }
