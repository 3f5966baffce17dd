"""Kubernetes target: versions as Deployments, weights as a Gateway API ``HTTPRoute``.

Manifests are written to ``<state>/<env>/manifests/`` on every change and applied with
``kubectl --context CONTEXT apply`` when ``kubernetes.context`` is set, or by server-side apply
through the Kubernetes API when ``kubernetes.api_server`` is (readiness read back from the
Deployment's status, removal by DELETE); with neither it only renders. There is no
per-version URL to scrape (``metrics_url`` is None): analysis reads the cluster's Prometheus
(``kubernetes.prometheus_url``, pods selected by ``namespace`` and ``pod=~"<app>-rN-.+"``; see
``delivery/rollout/prometheus.py``), and ``running`` means the version's manifests are in place.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lockgate.delivery.rollout.accesslog import AccessLogReader
from lockgate.delivery.rollout.targets import kubernetes_manifests as m
from lockgate.delivery.rollout.targets.argo_manifests import argo_documents
from lockgate.delivery.rollout.targets.base import RouteChange, Version
from lockgate.delivery.rollout.targets.kube_api import KubernetesApi
from lockgate.errors import LockgateError

ROLLOUT_API = "argoproj.io/v1alpha1"
READY_TIMEOUT_S = 300.0  # what `kubectl rollout status --timeout=300s` waits


class KubectlFailed(LockgateError):
    """kubectl refused a manifest or could not reach the cluster."""


class KubernetesTarget:
    def __init__(self, env_name: str, settings: Any, state_dir: Path, **_: Any) -> None:
        self.env_name = env_name
        self.delivery = settings
        self.settings = settings.kubernetes
        self.folder = Path(state_dir) / env_name / "manifests"
        self.delegates = self.settings.router == "argo-rollouts"
        self.ready_poll_s = 2.0  # between reads of a Deployment's status (API path)
        self.api = (
            KubernetesApi(self.settings.api_server, self.settings.token_file, self.settings.ca_file)
            if self.settings.api_server
            else None
        )

    def _write(self, name: str, documents: list[dict[str, Any]]) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {"apiVersion": "v1", "kind": "List", "items": documents}, indent=2, sort_keys=True
            )
            + "\n"
        )
        tmp.replace(path)
        if self.settings.context:
            self._kubectl("apply", "-f", str(path))
        elif self.api is not None and not self.delegates:
            for document in documents:
                self.api.apply(document)
        return path

    def _kubectl(self, *args: str) -> str:
        command = ["kubectl", "--context", str(self.settings.context), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise KubectlFailed(f"{' '.join(command)}: {done.stderr.strip()}")
        return done.stdout

    def manifests_for(self, version: Version) -> list[dict[str, Any]]:
        app = self.settings.app
        return [
            m.deployment(app, version.name, version.ref, self.settings, dict(version.env)),
            m.service(app, version.name, self.settings),
        ]

    def argo_manifests(self, version: Version) -> list[dict[str, Any]]:
        return argo_documents(self.settings.app, version.ref, self.delivery, dict(version.env))

    def start(self, version: Version) -> None:
        if self.delegates:  # one Rollout; the version applied last is the one Argo rolls to
            documents = self.argo_manifests(version)
            self._write(version.name, documents)
            if self.api is not None:
                for document in documents:
                    self.api.apply(document)
            return
        self._write(version.name, self.manifests_for(version))
        if self.settings.context:
            name = f"deployment/{self.settings.app}-{version.name}"
            self._kubectl(
                "-n", self.settings.namespace, "rollout", "status", name, "--timeout=300s"
            )
        elif self.api is not None:
            self._wait_ready(f"{self.settings.app}-{version.name}")

    def _wait_ready(self, name: str) -> None:
        """Wait, as ``kubectl rollout status`` does, until the Deployment's controller has seen
        its spec and every replica is updated and available."""
        assert self.api is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            found = self.api.get("apps/v1", "Deployment", self.settings.namespace, name)
            status, want = found.get("status") or {}, self.settings.replicas
            seen = int(status.get("observedGeneration") or 0)
            if seen >= int((found.get("metadata") or {}).get("generation") or 0) and all(
                int(status.get(key) or 0) >= want
                for key in ("updatedReplicas", "availableReplicas")
            ):
                return
            if time.monotonic() > deadline:
                raise KubectlFailed(
                    f"deployment {self.settings.namespace}/{name}: not ready after "
                    f"{READY_TIMEOUT_S:g} s ({status.get('availableReplicas') or 0}/{want} "
                    "available)"
                )
            time.sleep(self.ready_poll_s)

    def stop(self, version: Version) -> None:
        path = self.folder / f"{version.name}.json"
        if self.delegates:  # the one Rollout stays; Argo scales the old ReplicaSet down
            path.unlink(missing_ok=True)
            return
        if self.settings.context and path.exists():
            self._kubectl("delete", "--ignore-not-found", "-f", str(path))
        elif self.api is not None and path.exists():
            for document in json.loads(path.read_text())["items"]:
                meta = document["metadata"]
                kind, namespace = document["kind"], meta["namespace"]
                self.api.delete(document["apiVersion"], kind, namespace, meta["name"])
        path.unlink(missing_ok=True)

    def running(self, version: Version) -> bool:
        return (self.folder / f"{version.name}.json").exists()

    def _rollout_api(self, doing: str) -> KubernetesApi:
        if self.api is None:
            raise KubectlFailed(
                f"router argo-rollouts: set kubernetes.api_server so lockgate can {doing}"
            )
        return self.api

    def rollout_object(self) -> dict[str, Any]:
        """The Argo Rollout (metadata, spec, status), read through the Kubernetes API."""
        api = self._rollout_api("read the Rollout's status back")
        return dict(api.get(ROLLOUT_API, "Rollout", self.settings.namespace, self.settings.app))

    def analysis_run(self, name: str) -> dict[str, Any]:
        """An AnalysisRun Argo started for a step, read through the Kubernetes API."""
        api = self._rollout_api("read the step's analysis back")
        return dict(api.get(ROLLOUT_API, "AnalysisRun", self.settings.namespace, name))

    def patch_rollout(self, patch: Mapping[str, Any]) -> None:
        """Merge patches as ``kubectl argo rollouts`` sends them: ``status`` through the status
        subresource, ``spec`` (unpausing a manual pause) on the object."""
        api = self._rollout_api("change the Rollout")
        ns, app = self.settings.namespace, self.settings.app
        if "spec" in patch:
            api.merge(ROLLOUT_API, "Rollout", ns, app, {"spec": patch["spec"]})
        if "status" in patch:
            api.merge_status(ROLLOUT_API, "Rollout", ns, app, {"status": patch["status"]})

    def route(self, weights: Mapping[Version, int]) -> RouteChange:
        asked = time.time()
        by_name = {v.name: w for v, w in weights.items()}
        if self.delegates:  # Argo moves the traffic
            return RouteChange(by_name, asked, asked)
        self._write("route", [m.http_route(self.settings.app, by_name, self.settings)])
        return RouteChange(by_name, asked, time.time())

    def metrics_url(self, version: Version) -> str | None:
        return None

    def upstream(self, version: Version) -> str | None:
        return None

    def access_log(self) -> AccessLogReader | None:
        return None

    def url(self) -> str:
        return f"http://{self.settings.app}.{self.settings.namespace}.svc"

    def sweep(self, keep: Iterable[Version]) -> list[str]:
        wanted = {v.name for v in keep} | {"route"}
        removed = []
        for path in sorted(self.folder.glob("r*.json")):
            if path.stem not in wanted:
                self.stop(Version(int(path.stem[1:]), ""))
                removed.append(path.stem)
        return removed
