"""Deployers, one per kind, listed in :data:`DEPLOYERS`.

``manifest`` writes the environment's release (image by digest, time) to
``.lockgate/releases/ENV.json`` atomically, for a system that deploys from that file (a GitOps
controller, a CI job, a compose file's digest); its health check asks the environment's ``url``
(HTTP 2xx: healthy) and is unknown when there is none. Container deployers (the canary work)
add a line here.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.delivery.ledger.entry import format_time
from lockgate.delivery.ledger.ledger import utc_now, write_atomic
from lockgate.delivery.promotion.protocols import Deployer, DeployResult, Health

if TYPE_CHECKING:
    from lockgate.spec.models import Pipeline
from lockgate.errors import LockgateError


class ManifestDeployer:
    def __init__(self, folder: Path, urls: Mapping[str, str | None], timeout: float = 5.0):
        self.folder = folder
        self.urls = urls
        self.timeout = timeout

    def deploy(self, env: str, ref: str) -> DeployResult:
        record = {"environment": env, "image": ref, "time": format_time(utc_now())}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(self.folder / f"{env}.json", json.dumps(record, indent=2).encode())
        except OSError as exc:
            return DeployResult(False, ref, f"cannot write the release manifest: {exc}")
        return DeployResult(True, ref, f"release manifest {self.folder / f'{env}.json'}")

    def current(self, env: str) -> str | None:
        try:
            return str(json.loads((self.folder / f"{env}.json").read_text())["image"])
        except (OSError, ValueError, KeyError):
            return None

    def health(self, env: str) -> Health:
        url = self.urls.get(env)
        if not url:
            return Health("unknown", f"{env} has no `url` to probe")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                code = response.status
        except urllib.error.HTTPError as exc:
            return Health("unhealthy", f"{url} answered {exc.code}")
        except (urllib.error.URLError, OSError) as exc:
            return Health("unhealthy", f"{url} did not answer ({exc})")
        if 200 <= code < 300:
            return Health("healthy", f"{url} answered {code}")
        return Health("unhealthy", f"{url} answered {code}")


DeployerFactory = Callable[[Path, "Pipeline"], Deployer]


def _manifest(project_root: Path, pipeline: Pipeline) -> Deployer:
    urls = {e.name: e.url for e in pipeline.environments}
    return ManifestDeployer(project_root / ".lockgate" / "releases", urls)


class RolloutDeployer:
    """The docker target's canary / blue-green rollouts (each environment's ``rollout:``),
    seen through the promotion protocol: a rollout that aborts is a failed deploy, and its
    failing measurements travel in the detail the ledger records."""

    def __init__(self, project_root: Path) -> None:
        from lockgate.delivery.promotion.delivery_deployer import DeliveryDeployer

        self.inner = DeliveryDeployer(start=project_root)

    def deploy(self, env: str, ref: str) -> DeployResult:
        result = self.inner.deploy(env, ref)
        detail = f"{result.status}: {result.reason}"
        if result.measurements:
            detail += f" {json.dumps(list(result.measurements), sort_keys=True, default=str)}"
        return DeployResult(result.ok, ref, detail)

    def current(self, env: str) -> str | None:
        return self.inner.current(env)

    def health(self, env: str) -> Health:
        h = self.inner.health(env)
        return Health("healthy" if h.ok else "unhealthy", h.detail)


def _rollout(project_root: Path, pipeline: Pipeline) -> Deployer:
    return RolloutDeployer(project_root)


DEPLOYERS: dict[str, DeployerFactory] = {
    "manifest": _manifest,
    "rollout": _rollout,
}


def deployer_for(name: str, project_root: Path, pipeline: Pipeline) -> Deployer:
    factory = DEPLOYERS.get(name)
    if factory is None:
        raise LockgateError(
            f"environments[].deployer: unknown deployer {name!r} (known: {', '.join(DEPLOYERS)})"
        )
    return factory(project_root, pipeline)
