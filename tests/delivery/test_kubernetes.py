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
    rollout, template, _ = docs
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    assert steps[0] == {"setWeight": 10} and steps[1] == {"pause": {"duration": "60s"}}
    assert steps[4] == {"pause": {}}  # a manual pause stays manual
    names = [metric["name"] for metric in template["spec"]["metrics"]]
    assert names == ["error-rate", "p95-ms"]  # drift is lockgate's own; no PromQL for it
    assert template["spec"]["metrics"][0]["successCondition"] == "result[0] < 0.01"


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
