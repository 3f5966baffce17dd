"""Kubernetes manifests for a rollout, as plain dicts (pure functions, deterministic).

- one ``Deployment`` + ``Service`` per version (``<app>-r<N>``), and a ``Service`` ``<app>``;
- ``gateway-api``: an ``HTTPRoute`` whose ``backendRefs`` carry the weights lockgate sets step
  by step (lockgate drives the canary and reads metrics itself);
- ``argo-rollouts``: see ``argo_manifests.py``, which reuses the pod template and the route.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
