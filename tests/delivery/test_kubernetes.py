"""Kubernetes manifests, validated against schemas. No cluster can run where these tests run, so
nothing is applied: core kinds are checked with kubernetes-validate's vendored (strict) schemas,
the CRDs (Argo Rollouts' Rollout and AnalysisTemplate, Gateway API's HTTPRoute) with the
structural schemas in schemas/, written from the projects' API references because no offline
package carries them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.delivery.config import EnvironmentDelivery
from lockgate.delivery.rollout.targets.base import Version
from lockgate.delivery.rollout.targets.kubernetes import KubernetesTarget

SCHEMAS = Path(__file__).parent / "schemas"
K8S_VERSION = "1.30.0"


def validate(document: dict) -> None:
    import jsonschema

    kind = document["kind"]
    if kind in ("Rollout", "AnalysisTemplate", "HTTPRoute"):
        schema = json.loads((SCHEMAS / f"{kind.lower()}.json").read_text())
        jsonschema.validate(document, schema)
    else:
        kubernetes_validate = pytest.importorskip(
            "kubernetes_validate", reason="pip install kubernetes-validate"
        )
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)


def target(tmp_path, **kubernetes) -> KubernetesTarget:
    settings = EnvironmentDelivery.model_validate(
        {
            "target": "kubernetes",
            "kubernetes": {"namespace": "ml", **kubernetes},
            "canary": {
                "steps": [
                    {"weight": 10, "pause": {"duration": 60}},
                    {"weight": 50, "pause": {}},
                    {"weight": 100},
                ]
            },
        }
    )
    return KubernetesTarget("prod", settings, tmp_path)


def _items(path: Path) -> list[dict]:
    return json.loads(path.read_text())["items"]


def test_versions_and_weights_render_valid_manifests(tmp_path):
    t = target(tmp_path)
    v1, v2 = (
        Version(1, "registry.local/model@sha256:" + "a" * 64),
        Version(2, "registry.local/model:2", (("MODE", "x"),)),
    )
    t.start(v1)
    t.start(v2)
    change = t.route({v1: 90, v2: 10})
    docs = (
        _items(t.folder / "r1.json")
        + _items(t.folder / "r2.json")
        + _items(t.folder / "route.json")
    )
    for doc in docs:
        validate(doc)
    route = _items(t.folder / "route.json")[0]
    assert [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [
        ("model-r1", 90),
        ("model-r2", 10),
    ]
    assert change.weights == {"r1": 90, "r2": 10}
    assert t.sweep([v2]) == ["r1"] and not t.running(v1)


def test_argo_rollout_mirrors_the_canary_steps_and_conditions(tmp_path):
    t = target(tmp_path, router="argo-rollouts")
    docs = t.argo_manifests(Version(3, "registry.local/model:3"))
    for doc in docs:
        validate(doc)
    rollout, template, app, stable, canary, route = docs
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    assert steps[:2] == [{"setWeight": 10}, {"pause": {"duration": "60s"}}]
    assert steps[2]["analysis"]["args"] == [
        {"name": "revision", "valueFrom": {"podTemplateHashValue": "Latest"}},
        {"name": "window", "value": "60s"},
    ]
    # a manual step: its analysis window (window_s), its analysis, then the manual pause
    assert steps[3:5] == [{"setWeight": 50}, {"pause": {"duration": "30s"}}]
    assert "analysis" in steps[5] and steps[6] == {"pause": {}} and len(steps) == 7
    metrics = {metric["name"]: metric for metric in template["spec"]["metrics"]}
    assert list(metrics) == ["requests", "error-rate", "p95-ms"]  # drift is lockgate's own
    error = metrics["error-rate"]
    assert "interval" not in error and "count" not in error  # one measurement per step
    guard = "len(result) == 1 && !isNaN(result[0]) && result[0]"
    assert error["successCondition"] == f"{guard} < 0.01"
    assert error["failureCondition"] == f"{guard} >= 0.01"  # neither: inconclusive -> pause
    assert metrics["requests"]["failureCondition"] == "false"  # low traffic: inconclusive
    query = error["provider"]["prometheus"]["query"]
    assert 'pod=~"model-{{args.revision}}-.+"' in query and "[{{args.window}}]" in query
    assert error["provider"]["prometheus"]["address"] == "http://prometheus.monitoring:9090"
    names = [s["metadata"]["name"] for s in (app, stable, canary)]
    assert names == ["model", "model-stable", "model-canary"]
    strategy = rollout["spec"]["strategy"]["canary"]
    assert [strategy["stableService"], strategy["canaryService"]] == names[1:]
    assert strategy["trafficRouting"]["plugins"]["argoproj-labs/gatewayAPI"]["httpRoute"] == "model"
    backends = route["spec"]["rules"][0]["backendRefs"]
    assert sorted(b["name"] for b in backends) == ["model-canary", "model-stable"]


def test_argo_without_a_promql_condition_runs_no_analysis(tmp_path):
    settings = EnvironmentDelivery.model_validate(
        {
            "target": "kubernetes",
            "kubernetes": {"router": "argo-rollouts"},
            "analysis": {"conditions": ["prediction_psi < 0.2"]},
        }
    )
    docs = KubernetesTarget("prod", settings, tmp_path).argo_manifests(Version(1, "m:1"))
    assert "AnalysisTemplate" not in [d["kind"] for d in docs]
    steps = docs[0]["spec"]["strategy"]["canary"]["steps"]
    assert steps and not [s for s in steps if "analysis" in s]


def test_a_broken_manifest_is_caught_by_the_schemas(tmp_path):
    import jsonschema

    t = target(tmp_path)
    route = t.route({Version(1, "x"): 100}) and _items(t.folder / "route.json")[0]
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = -5
    with pytest.raises(jsonschema.ValidationError):
        validate(route)
    deployment = t.manifests_for(Version(1, "x"))[0]
    deployment["spec"]["replicas"] = "two"
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    with pytest.raises(kv.ValidationError):
        validate(deployment)


def test_gateway_router_applies_waits_routes_and_deletes_through_the_api(tmp_path):
    """With ``kubernetes.api_server`` (and no kubectl context) the gateway-api router applies,
    reads readiness back and deletes through the API, against the recorded API server."""
    from tests.delivery.kube_api_kit import TOKEN, serving

    with serving() as (recorded, server):
        (tmp_path / "token").write_text(TOKEN)
        t = target(tmp_path, api_server=server, token_file=str(tmp_path / "token"))
        t.ready_poll_s = 0.01
        v1 = Version(1, "registry.local/model:1")
        deployment = "/apis/apps/v1/namespaces/ml/deployments/model-r1"
        recorded.ready = [
            {"observedGeneration": 1, "updatedReplicas": 2, "availableReplicas": 1},
            {"observedGeneration": 1, "updatedReplicas": 2, "availableReplicas": 2},
        ]
        t.start(v1)
        t.route({v1: 100})
        calls = [(r["method"], r["path"].split("?")[0]) for r in recorded.requests]
        assert calls == [
            ("PATCH", deployment),
            ("PATCH", "/api/v1/namespaces/ml/services/model-r1"),
            ("GET", deployment),  # one replica of two available: not yet
            ("GET", deployment),
            ("PATCH", "/apis/gateway.networking.k8s.io/v1/namespaces/ml/httproutes/model"),
        ]
        applies = [r for r in recorded.requests if r["method"] == "PATCH"]
        assert all(r["path"].endswith("?fieldManager=lockgate&force=true") for r in applies)
        assert all(r["headers"]["Authorization"] == f"Bearer {TOKEN}" for r in recorded.requests)
        for r in applies:
            validate(json.loads(r["body"]))
        recorded.requests.clear()
        t.stop(v1)
        t.stop(v1)  # already gone: nothing to delete, no error
        assert [(r["method"], r["path"]) for r in recorded.requests] == [
            ("DELETE", deployment),
            ("DELETE", "/api/v1/namespaces/ml/services/model-r1"),
        ]
        assert not t.running(v1)
