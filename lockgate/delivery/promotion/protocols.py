"""What promotion needs from its neighbours, and nothing more: an image verifier (supply
chain), a model registry (MLflow) and a deployer (per environment). Implementations arrive
through constructors; :mod:`.verifier`, :mod:`.mlflow_registry` and :mod:`.deployers` (this
folder) hold the real ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True)
class Verdict:
    """Did the image pass verification (signature, attestations, scan)? ``reasons`` says why,
    one line per requirement; ``facts`` carries what attestations state about the image
    (e.g. ``model``: ``models:/NAME/3``, ``git_sha``, ``mlflow_run``) for lineage."""

    passed: bool
    reasons: tuple[str, ...] = ()
    facts: Mapping[str, str] = field(default_factory=dict)


class ImageVerifier(Protocol):
    def verify(self, ref: str) -> Verdict: ...


@dataclass(frozen=True)
class ModelVersionRecord:
    """A registered model version as the registry describes it."""

    name: str
    version: str
    run_id: str | None
    source: str | None
    user: str | None
    tags: Mapping[str, str] = field(default_factory=dict)
    tracking_uri: str | None = None


class ModelRegistry(Protocol):
    tracking_uri: str

    def set_alias(self, name: str, alias: str, version: str) -> None: ...

    def get_alias(self, name: str, alias: str) -> str | None: ...

    def tag_version(self, name: str, version: str, key: str, value: str) -> None: ...

    def describe(self, name: str, version: str) -> ModelVersionRecord | None: ...


@dataclass(frozen=True)
class DeployResult:
    ok: bool
    ref: str
    detail: str = ""


@dataclass(frozen=True)
class Health:
    status: Literal["healthy", "unhealthy", "unknown"]
    detail: str = ""


class Deployer(Protocol):
    def deploy(self, env: str, ref: str) -> DeployResult: ...

    def current(self, env: str) -> str | None: ...

    def health(self, env: str) -> Health: ...
