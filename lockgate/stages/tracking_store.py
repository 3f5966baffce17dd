"""Where the train and evaluate stages keep MLflow runs and registered models.

By default an embedded store in the project's persistent state folder: a SQLite database and a
local artifact folder, no server. ``with: tracking_uri:`` or ``MLFLOW_TRACKING_URI`` point at a
shared server instead. MLflow is imported only by the functions that use it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "_MLFLOW_TELEMETRY_PRE_WARM_DATABRICKS_SDK": "false",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "GIT_PYTHON_REFRESH": "quiet",
}


@dataclass(frozen=True)
class TrackingStore:
    uri: str
    artifact_root: Path | None  # set for the embedded store only

    @property
    def embedded(self) -> bool:
        return self.artifact_root is not None

    @classmethod
    def resolve(
        cls, state: Path, configured: str | None, env: Mapping[str, str] | None = None
    ) -> TrackingStore:
        env = os.environ if env is None else env
        uri = configured or env.get("MLFLOW_TRACKING_URI")
        if uri:
            return cls(uri, None)
        root = (state / "mlflow").resolve()
        return cls(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts")

    def activate(self) -> Any:
        """Point MLflow at this store (quietly, offline); returns the ``mlflow`` module."""
        for key, value in QUIET_ENV.items():
            os.environ.setdefault(key, value)
        if self.artifact_root is not None:
            self.artifact_root.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # MLflow's own pyfunc types warn about their type hints when first imported.
            warnings.filterwarnings("ignore", message=".*inferred as AnyType", category=UserWarning)
            import mlflow
            import mlflow.pyfunc

        before = os.environ.get("MLFLOW_TRACKING_URI")
        mlflow.set_tracking_uri(self.uri)  # also exports MLFLOW_TRACKING_URI: undo that, so the
        mlflow.set_registry_uri(self.uri)  # user's setting stays the only one that env carries
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = before
        return mlflow

    def experiment_id(self, name: str) -> str:
        """The experiment ``name``, created with its artifacts under the state folder when the
        store is embedded."""
        import mlflow

        client = mlflow.MlflowClient()
        found = client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        location = self.artifact_root.as_uri() if self.artifact_root is not None else None
        return str(client.create_experiment(name, artifact_location=location))
