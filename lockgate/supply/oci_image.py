"""Build OCI images from file layers without a container engine (blobs in memory).

Used to put small images into a registry for tests and benchmarks, and by anything that needs
to push a prebuilt layer tarball. Layers are reproducible: fixed mtimes, sorted entries.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


@dataclass(frozen=True)
class Layer:
    blob: Blob  # gzip-compressed tar
    diff_id: str  # digest of the uncompressed tar


def layer_from_tar(tar_bytes: bytes) -> Layer:
    compressed = gzip.compress(tar_bytes, compresslevel=1, mtime=0)
    return Layer(Blob(LAYER_TYPE, compressed), sha256_digest(tar_bytes))


def _parents(names: Iterable[str]) -> list[str]:
    """Every folder above ``names``, parents first (layers carry folder entries, as image
    builders write them; scanners match skipped folders on those entries)."""
    folders = {str(p) for name in names for p in PurePosixPath(name).parents if str(p) != "."}
    return sorted(folders)


def _tar(files: Mapping[str, bytes]) -> bytes:
    names = {name.lstrip("/"): data for name, data in files.items()}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder in _parents(names):
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for name in sorted(names):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(names[name]), 0o644, 0
            tar.addfile(info, io.BytesIO(names[name]))
    return buf.getvalue()


def layer_from_files(files: Mapping[str, bytes]) -> Layer:
    """A layer holding ``files`` (path inside the image -> content)."""
    return layer_from_tar(_tar(files))


def layer_from_tree(root: Path, prefix: str, skip: Iterable[str] = ()) -> Layer:
    """A layer with the regular files under ``root`` placed at ``prefix`` in the image."""
    skipped = set(skip)
    files = {
        f"{prefix.strip('/')}/{path.relative_to(root)}": path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink() and path.name not in skipped
    }
    return layer_from_tar(_tar(files))


@dataclass(frozen=True)
class Image:
    config: Blob
    layers: tuple[Layer, ...]
    manifest: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    def blobs(self) -> list[Blob]:
        return [layer.blob for layer in self.layers] + [self.config]


def build_image(
    layers: Iterable[Layer],
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Image:
    layers = tuple(layers)
    config_doc = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": dict(labels or {})},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
    }
    config = Blob(CONFIG_TYPE, json.dumps(config_doc, sort_keys=True).encode())
    manifest_doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config.descriptor(),
        "layers": [layer.blob.descriptor() for layer in layers],
    }
    if annotations:
        manifest_doc["annotations"] = dict(annotations)
    manifest = json.dumps(manifest_doc, sort_keys=True).encode()
    return Image(config, layers, manifest)
