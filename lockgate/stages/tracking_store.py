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

from lockgate.errors import LockgateError


class TrackingStoreError(LockgateError):
    """The MLflow store cannot give what a stage needs (moved, deleted, replaced)."""


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

    @classmethod
    def named(cls, uri: str) -> TrackingStore:
        """The store at ``uri``: an embedded one (a state folder's SQLite file, named
        explicitly) with its artifact folder beside the database."""
        if cls.is_embedded_uri(uri):
            return cls(uri, Path(uri.removeprefix("sqlite:///")).parent / "artifacts")
        return cls(uri, None)

    @staticmethod
    def recorded(uri: str | None, env: Mapping[str, str] | None = None) -> str | None:
        """A tracking URI as train recorded it (without a user or password), made whole again
        from the job's ``MLFLOW_TRACKING_URI`` when that is the same URL with them."""
        from lockgate.engine.stage_env import without_userinfo

        whole = (os.environ if env is None else env).get("MLFLOW_TRACKING_URI")
        if uri and whole and whole != uri and without_userinfo(whole) == uri:
            return whole
        return uri

    @staticmethod
    def is_embedded_uri(uri: str | None) -> bool:
        """Whether ``uri`` names an embedded store (the SQLite file in a state folder), which a
        recorded run must not pin by its absolute path: the project may have moved."""
        return (
            bool(uri)
            and str(uri).startswith("sqlite:///")
            and str(uri).endswith("/mlflow/mlflow.db")
        )

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

    def check_not_moved(self) -> None:
        """The embedded store records absolute artifact paths; a moved project (or a state folder
        copied elsewhere) leaves them pointing at the old place. Say so, and what to do, instead
        of MLflow's ``No such artifact``."""
        if self.artifact_root is None:
            return
        import mlflow
        from mlflow.entities import ViewType

        here = self.artifact_root.as_uri()
        for exp in mlflow.MlflowClient().search_experiments(view_type=ViewType.ALL):
            where = str(exp.artifact_location or "")
            ours = where.startswith("file://") and where.endswith("/mlflow/artifacts")
            if ours and where != here:
                old = where.removeprefix("file://")
                raise TrackingStoreError(
                    f"{self.uri.removeprefix('sqlite:///')}: this embedded MLflow store was "
                    f"written at {old} and has moved here (a moved project or state folder); "
                    "its runs and models still point at the old place. Move it back, or "
                    f"start a new store: remove {self.artifact_root.parent} and train again "
                    "(lockgate run --no-cache --stage <train stage>)"
                )

    def missing_model(
        self, uri: str, source: Path, stage: str, exc: Exception
    ) -> TrackingStoreError:
        """A model a train run recorded that this store does not have."""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return TrackingStoreError(
            f"{source}: model_uri {uri} is not in the tracking store {self.uri} ({first}); the "
            "store was deleted or replaced after training ran. Train again: "
            f"lockgate run --no-cache --stage {stage}"
        )
