"""What a rollout needs from a place that runs model versions: one protocol, one module per
target (``targets/docker.py``, ``targets/kubernetes.py``), listed in :data:`TARGETS`.

A target is built for one environment. Everything it is asked is idempotent, so a rerun after a
crash can simply ask again for the state the rollout record describes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from lockgate.delivery.rollout.accesslog import AccessLogReader

# target name -> "module:factory"; the factory takes (env_name, EnvironmentDelivery, state_dir)
TARGETS: dict[str, str] = {
    "docker": "lockgate.delivery.rollout.targets.docker:DockerTarget",
    "kubernetes": "lockgate.delivery.rollout.targets.kubernetes:KubernetesTarget",
}


@dataclass(frozen=True)
class Version:
    """One deployable revision of the model service in one environment."""

    revision: int
    ref: str  # image reference, ideally pinned by digest
    env: tuple[tuple[str, str], ...] = field(default=())

    @property
    def name(self) -> str:
        return f"r{self.revision}"

    def as_record(self) -> dict[str, Any]:
        return {"revision": self.revision, "ref": self.ref, "env": dict(self.env)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Version:
        env = tuple(sorted((str(k), str(v)) for k, v in dict(record.get("env") or {}).items()))
        return cls(int(record["revision"]), str(record["ref"]), env)


@dataclass(frozen=True)
class RouteChange:
    """A routing change that took effect: when it was asked for and when the router used it."""

    weights: Mapping[str, int]  # version name -> percent
    asked_at: float
    effective_at: float


class Target(Protocol):
    """Runs versions side by side and splits traffic between them by weight."""

    env_name: str

    def start(self, version: Version) -> None:
        """Run ``version`` and return once it answers (no-op when it already does)."""
        ...

    def stop(self, version: Version) -> None:
        """Stop and remove ``version`` (no-op when it is not there)."""
        ...

    def running(self, version: Version) -> bool: ...

    def route(self, weights: Mapping[Version, int]) -> RouteChange:
        """Send each version its percent of traffic; atomic, returns once in effect."""
        ...

    def metrics_url(self, version: Version) -> str | None:
        """Base URL where this version's own ``/metrics`` can be read, if reachable."""
        ...

    def upstream(self, version: Version) -> str | None:
        """How the router's access log names this version (host:port), if it keeps one."""
        ...

    def access_log(self) -> AccessLogReader | None: ...

    def url(self) -> str:
        """Where clients reach the environment."""
        ...

    def sweep(self, keep: Iterable[Version]) -> list[str]:
        """Remove every version of this environment not in ``keep``; returns what went."""
        ...


def make_target(env_name: str, settings: Any, state_dir: Any, **kwargs: Any) -> Target:
    import importlib

    module_name, factory = TARGETS[settings.target].split(":")
    built: Target = getattr(importlib.import_module(module_name), factory)(
        env_name, settings, state_dir, **kwargs
    )
    return built
