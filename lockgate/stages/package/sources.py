"""Where the model comes from. A :class:`ModelSource` writes a serving bundle (the folder the
image's server loads, see :mod:`lockgate.serving.model`) and says what it packaged.

- :class:`TrainOutputSource`: a folder with ``model-card.json`` (the train stage's ``model/``),
  its entrypoint's code from the workspace and the MLflow run id from ``train-run.json``.
- :class:`MlflowSource`: ``models:/NAME/VERSION`` from an MLflow registry; a model logged as a
  train-stage folder is read like one, a plain PyTorch-flavor model is served as a pickle.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lockgate.errors import LockgateError
from lockgate.serving.manifest import ServingManifest
from lockgate.stages.package.links import refuse_escaping_links

if TYPE_CHECKING:
    from lockgate.engine.sealing import Sealer

CARD = "model-card.json"


@dataclass(frozen=True)
class PackagedModel:
    name: str
    version: str
    run_id: str
    flavor: str
    source: str  # what was packaged: a stage output path or a models:/ URI
    digest: str  # sha256 over the bundle's files


class ModelSource(Protocol):
    def fetch(self, bundle: Path) -> PackagedModel:
        """Write the serving bundle into the empty folder ``bundle``."""
        ...


def bundle_digest(bundle: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        h.update(path.relative_to(bundle).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + h.hexdigest()


def _entrypoint_code(entrypoint: str, workspace: Path) -> list[Path]:
    """The module or package an entrypoint imports from the workspace."""
    target = entrypoint.rpartition(":")[0]
    if target.endswith(".py"):
        return [workspace / target]
    top = target.split(".")[0]
    return [p for p in (workspace / top, workspace / f"{top}.py") if p.exists()]


@dataclass(frozen=True)
class TrainOutputSource:
    model_dir: Path
    workspace: Path
    name: str
    version: str | None = None
    run_file: Path | None = None
    code: tuple[str, ...] = ()
    label: str = ""  # how the user named it, for messages and the record

    def fetch(self, bundle: Path) -> PackagedModel:
        where = self.label or str(self.model_dir)
        card_path = self.model_dir / CARD
        if not card_path.is_file():
            raise LockgateError(
                f"with.model {where}: no {CARD} there; point it at the train stage's model "
                "folder (e.g. in:train/model) and list that stage in `needs`"
            )
        card: dict[str, Any] = json.loads(card_path.read_text())
        entrypoint = str(card.get("entrypoint") or "")
        flavor = str(card.get("flavor") or "torch-state-dict")
        if not entrypoint:
            raise LockgateError(f"with.model {where}: {CARD} names no `entrypoint`")
        refuse_escaping_links(self.model_dir, self.model_dir, f"with.model {where}")
        shutil.copytree(self.model_dir, bundle, dirs_exist_ok=True)
        self._copy_code(entrypoint, bundle / "code", where)
        run_id = self._run_id()
        version = self.version or str(card.get("version") or "")
        manifest = ServingManifest(
            flavor=flavor,
            entrypoint=entrypoint,
            weights=str(card.get("weights") or ("state_dict.pt" if "torch" in flavor else "")),
            name=self.name,
            version=version,
            run_id=run_id,
            n_features=int(card.get("n_features") or 0),
            n_classes=int(card.get("n_classes") or 0),
            labels=tuple(card.get("labels") or card.get("class_names") or ()),
            feature_names=tuple(card.get("feature_names") or ()),
            params=dict(card.get("params") or {}),
            seed=int(card.get("seed") or 0),
        )
        manifest.write(bundle)
        digest = bundle_digest(bundle)
        if not version:  # a content version: the same model files, the same version
            version = "sha-" + digest.removeprefix("sha256:")[:12]
            manifest = ServingManifest(**{**manifest.__dict__, "version": version})
            manifest.write(bundle)
        return PackagedModel(self.name, version, run_id, flavor, where, bundle_digest(bundle))

    def _copy_code(self, entrypoint: str, code_dir: Path, where: str) -> None:
        if self.code:
            found = sorted({p for g in self.code for p in self.workspace.glob(g) if p.is_file()})
        else:
            found = _entrypoint_code(entrypoint, self.workspace)
        if not found:
            raise LockgateError(
                f"with.model {where}: entrypoint {entrypoint!r} has no module in the workspace; "
                "list its files in with.code"
            )
        for path in found:
            refuse_escaping_links(path, self.workspace, "with.code")
            dest = code_dir / path.relative_to(self.workspace)
            if path.is_dir():
                shutil.copytree(path, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)

    def _run_id(self) -> str:
        run_file = self.run_file or self.model_dir.parent / "train-run.json"
        if not run_file.is_file():
            return ""
        return str(json.loads(run_file.read_text()).get("mlflow_run_id") or "")


@dataclass(frozen=True)
class MlflowSource:
    uri: str  # models:/NAME/VERSION
    tracking_uri: str | None
    workspace: Path
    name: str
    version: str | None = None
    code: tuple[str, ...] = ()
    sealer: Sealer | None = None  # lockgate.yaml's encryption key: the embedded store's models

    def fetch(self, bundle: Path) -> PackagedModel:
        import mlflow
        from mlflow.exceptions import MlflowException

        from lockgate.stages.sealed_models import opened_model
        from lockgate.stages.tracking_store import TrackingStore

        if self.tracking_uri:
            mlflow.set_tracking_uri(self.tracking_uri)
        parts = self.uri.removeprefix("models:/").split("/")
        if len(parts) != 2 or not all(parts):
            raise LockgateError(f"with.model {self.uri!r}: expected models:/NAME/VERSION")
        store = TrackingStore.named(self.tracking_uri or mlflow.get_tracking_uri())
        try:
            mv = mlflow.MlflowClient().get_model_version(parts[0], parts[1])
            with opened_model(store, self.uri, self.sealer) as local:
                if local == self.uri:
                    local = mlflow.artifacts.download_artifacts(artifact_uri=self.uri)
                return self._packaged(Path(local), bundle, mv)
        except MlflowException as exc:
            message = str(exc.message).splitlines()[0]
            raise LockgateError(f"with.model {self.uri}: MLflow says: {message}") from None

    def _packaged(self, staged: Path, bundle: Path, mv: Any) -> PackagedModel:
        """The bundle from the model's files in ``staged``."""
        version = self.version or str(mv.version)
        run_id = str(mv.run_id or "")
        card = next(iter(sorted(staged.rglob(CARD))), None)
        if card is not None:  # a train-stage model folder logged to MLflow
            packaged = TrainOutputSource(
                card.parent, self.workspace, self.name, version, None, self.code, self.uri
            ).fetch(bundle)
            manifest = ServingManifest.read(bundle)
            ServingManifest(**{**manifest.__dict__, "run_id": run_id}).write(bundle)
            return PackagedModel(
                self.name, version, run_id, packaged.flavor, self.uri, bundle_digest(bundle)
            )
        return self._pytorch_flavor(staged, bundle, version, run_id)

    def _pytorch_flavor(
        self, staged: Path, bundle: Path, version: str, run_id: str
    ) -> PackagedModel:
        pickled = next(iter(sorted(staged.rglob("model.pth"))), None)
        if pickled is None:
            raise LockgateError(
                f"with.model {self.uri}: neither a {CARD} nor a PyTorch-flavor model.pth in it"
            )
        refuse_escaping_links(staged, staged, f"with.model {self.uri}")
        shutil.copytree(staged, bundle, dirs_exist_ok=True)
        code = bundle / "code"
        code.mkdir(exist_ok=True)
        for extra in sorted(staged.glob("code/*")):
            dest = code / extra.name
            if not dest.exists():
                shutil.copytree(extra, dest) if extra.is_dir() else shutil.copyfile(extra, dest)
        with pickled.open("rb") as f:
            recorded = "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
        ServingManifest(
            flavor="torch-pickle",
            weights=pickled.relative_to(staged).as_posix(),
            weights_sha256=recorded,
            name=self.name,
            version=version,
            run_id=run_id,
        ).write(bundle)
        return PackagedModel(
            self.name, version, run_id, "torch-pickle", self.uri, bundle_digest(bundle)
        )
