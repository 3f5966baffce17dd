"""Models in the embedded MLflow store, sealed at rest with lockgate.yaml's ``encryption:`` key.

The train stage logs its model to MLflow (:mod:`lockgate.stages.train.tracking`). With
encryption on and the embedded store (in the project's state folder), the logged model's folder
is then sealed in place as a sealed tree (:mod:`lockgate.engine.sealed_tree`): the pickled
model and every other file sealed under its path, the whole bound to the model's place in the
store, so a file cannot trade places with another model's. MLflow's own metadata (``MLmodel``
and the environment files: flavors, signature, requirements, never data) stays readable, for
MLflow's registry and UI, and is vouched for by its sha256 in the sealed index.

The readers (evaluate: the candidate and the champion; package: a ``models:/`` model) open it
into a private temporary folder for the load, and remove that folder after. With encryption on,
a model of the embedded store that is not sealed is refused, as is a sealed one without the
key: a pickle is code, and a plaintext one put where a sealed one was must not be loaded. A
model on a tracking server is the server's to protect; it is neither sealed nor opened.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.engine.sealing import SealError

if TYPE_CHECKING:
    from lockgate.engine.sealing import Sealer
    from lockgate.stages.tracking_store import TrackingStore

# MLflow's metadata beside a model: kept readable (vouched for in the sealed index)
PUBLIC = frozenset({"MLmodel", "conda.yaml", "python_env.yaml", "requirements.txt"})
# what MLflow writes into a model's folder after it is logged (when it is registered)
LATER = frozenset({"registered_model_meta"})


def seal_logged_model(store: TrackingStore, model_uri: str, sealer: Sealer | None) -> None:
    """Seal the folder of the model just logged at ``model_uri``, in place (embedded store and
    encryption on only). The sealed tree is written beside it, then takes its place."""
    if sealer is None or not store.embedded:
        return
    from lockgate.engine.sealed_tree import seal_tree

    folder = _folder(store, model_uri)
    public = frozenset(p.name for p in folder.iterdir() if p.name in PUBLIC and p.is_file())
    sealed = folder.with_name(f".{folder.name}.sealing-{uuid.uuid4().hex}")
    plain = folder.with_name(f".{folder.name}.plain-{uuid.uuid4().hex}")
    try:
        plain.mkdir()
        for name in LATER:  # MLflow's, rewritten when the model is registered: left as it is
            if (folder / name).is_file():
                os.rename(folder / name, plain / name)
        seal_tree(folder, sealed, sealer, stage=_binding(store, folder), digest="", public=public)
        for name in LATER:
            if (plain / name).is_file():
                os.rename(plain / name, sealed / name)
        os.rename(folder, plain / "model")
        os.rename(sealed, folder)
    finally:
        shutil.rmtree(sealed, ignore_errors=True)
        shutil.rmtree(plain, ignore_errors=True)


@contextmanager
def opened_model(store: TrackingStore, uri: str, sealer: Sealer | None) -> Iterator[str]:
    """What to load the model at ``uri`` from: ``uri`` itself (a tracking server's model, or
    the embedded store's with encryption off), or the model opened into a private temporary
    folder, removed on exit."""
    from lockgate.engine.sealed_tree import is_sealed, open_tree

    if not store.embedded:
        yield uri
        return
    if sealer is None:
        try:
            folder = _folder(store, uri)
        except SealError:  # not in the artifact folder: lockgate sealed nothing there
            yield uri
            return
        if is_sealed(folder):
            raise SealError(
                f"{uri}: the model in the embedded MLflow store ({folder}) is sealed, but "
                "lockgate.yaml sets no `encryption:`; set it to the key the model was sealed with"
            )
        yield uri
        return
    folder = _folder(store, uri)
    if not is_sealed(folder):
        raise SealError(
            f"{uri}: the model in the embedded MLflow store ({folder}) is not sealed, but "
            "lockgate.yaml sets `encryption:`: it was logged before encryption was on, or its "
            "seal was removed; train it again to replace it"
        )
    scratch = Path(tempfile.mkdtemp(prefix="lockgate-model-"))  # mode 0700: this user only
    try:
        target = scratch / "model"
        open_tree(folder, target, sealer, stage=_binding(store, folder), later=LATER)
        yield str(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _folder(store: TrackingStore, uri: str) -> Path:
    """The model's folder in the embedded store's artifact folder (MLflow gives a local
    store's artifacts in place, not copied)."""
    import mlflow.artifacts

    folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, tracking_uri=store.uri))
    assert store.artifact_root is not None
    try:
        folder.resolve().relative_to(store.artifact_root.resolve())
    except ValueError:
        raise SealError(
            f"{uri}: its files are at {folder}, outside the embedded store's artifact folder "
            f"{store.artifact_root}; a model lockgate seals must be logged there"
        ) from None
    return folder


def _binding(store: TrackingStore, folder: Path) -> str:
    """What a model's sealed index is bound to: its folder's place in the artifact folder."""
    assert store.artifact_root is not None
    place = folder.resolve().relative_to(store.artifact_root.resolve()).as_posix()
    return f"mlflow-model:{place}"
