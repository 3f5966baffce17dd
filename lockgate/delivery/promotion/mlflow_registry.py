"""The MLflow model registry behind :class:`~lockgate.delivery.promotion.protocols.ModelRegistry`:
aliases, version tags, and where a version came from. MLflow is imported on first use."""

from __future__ import annotations

import contextlib
from typing import Any

from lockgate.delivery.promotion.protocols import ModelVersionRecord


class MlflowRegistry:
    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
            )
        return self._client

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, str(version))

    def get_alias(self, name: str, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None

    def tag_version(self, name: str, version: str, key: str, value: str) -> None:
        self.client.set_model_version_tag(name, str(version), key, value)

    def describe(self, name: str, version: str) -> ModelVersionRecord | None:
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version(name, str(version))
        except MlflowException:
            return None
        source = mv.source
        model_id = getattr(mv, "model_id", None)
        if model_id and (source or "").startswith("models:/"):
            # MLflow 3: the version points at a logged model; its artifacts live there
            with contextlib.suppress(MlflowException):
                source = self.client.get_logged_model(model_id).artifact_location
        user = mv.user_id or None
        if mv.run_id and user is None:
            with contextlib.suppress(MlflowException):
                user = self.client.get_run(mv.run_id).info.user_id or None
        return ModelVersionRecord(
            name=name,
            version=str(mv.version),
            run_id=mv.run_id or None,
            source=source,
            user=user,
            tags=dict(mv.tags or {}),
            tracking_uri=self.tracking_uri,
        )
