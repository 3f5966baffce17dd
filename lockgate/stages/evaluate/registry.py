"""The MLflow model registry as the evaluate stage uses it.

A candidate is always registered as a new version (the record of what was evaluated), tagged
with its data digest, git SHA, verdict and metrics. The ``candidate`` alias moves to it only when
the gate passed, so promotion never picks up a failed model. ``champion`` is never touched here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CANDIDATE = "candidate"
CHAMPION = "champion"


@dataclass(frozen=True)
class ChampionRef:
    version: str
    uri: str


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    aliased: bool


class ModelRegistry:
    def __init__(self, client: Any) -> None:
        self.client = client  # mlflow.MlflowClient

    def champion(self, name: str) -> ChampionRef | None:
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(name, CHAMPION)
        except MlflowException:  # no such model, or no champion alias yet
            return None
        return ChampionRef(str(mv.version), f"models:/{name}@{CHAMPION}")

    def version_count(self, name: str) -> int:
        """How many versions of ``name`` are registered (0 when the model does not exist)."""
        from mlflow.exceptions import MlflowException

        try:
            return len(self.client.search_model_versions(f"name = '{name}'"))
        except MlflowException:
            return 0

    def register(
        self, name: str, model_uri: str, tags: Mapping[str, str], make_candidate: bool
    ) -> RegisteredVersion:
        import mlflow

        mv = mlflow.register_model(model_uri, name, tags=dict(tags))
        if make_candidate:
            self.client.set_registered_model_alias(name, CANDIDATE, mv.version)
        return RegisteredVersion(name, str(mv.version), make_candidate)
