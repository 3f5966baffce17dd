"""The content-addressed stage cache.

A key is sha256 over the canonical JSON of everything that decides a stage's outputs: the image
recipe digest, argv, non-secret env, the digests of declared inputs and of upstream outputs, and
the stage program's version. An entry is a folder ``<root>/<key>/`` holding ``out/`` and
``entry.json``; it appears by one ``rename`` of a fully written temporary folder, so a crash or
Ctrl-C leaves either no entry or a whole one, and two runs racing on one key both end with a
whole entry (the loser discards its copy). A forced re-run (``--no-cache``) *replaces* the entry:
the new folder is renamed in and the old one moved aside first, so readers see the old entry or
the new one, never a mix. An entry whose ``entry.json`` does not read back (damaged on disk or by
hand) is no entry: the stage runs again and its entry replaces the damaged one the same way.

With a :class:`~lockgate.engine.sealing.Sealer` (``encryption:`` in lockgate.yaml) the entry's
``out/`` is sealed file by file (:mod:`lockgate.engine.sealed_tree`) and ``entry.json`` records the
cipher and the key id; the plaintext folder stays with the caller. The report files a stage
writes for people (``contract.REPORT_FILES``) stay readable, checked against the sealed index.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lockgate.contract import REPORT_FILES
from lockgate.engine.digests import sha256_json
from lockgate.engine.sealed_tree import seal_tree
from lockgate.engine.sealing import CIPHER, Sealer
from lockgate.engine.stagespec import StageSpec
from lockgate.errors import LockgateError

KEY_FORMAT = 1


def cache_key(spec: StageSpec, *, inputs: Mapping[str, str], upstream: Mapping[str, str]) -> str:
    """The stage's key. Secret *names* count (adding a secret changes the key); values never."""
    material = {
        "format": KEY_FORMAT,
        "image": spec.image.digest,
        "argv": list(spec.argv),
        "env": sorted(spec.env),
        "secrets": sorted(spec.secrets),
        "caches": sorted(spec.caches),
        "gpu": spec.gpu,
        "outputs": sorted(spec.outputs),
        "inputs": dict(sorted(inputs.items())),
        "upstream": dict(sorted(upstream.items())),
        "program": spec.program_version,
        "engine": spec.engine,
    }
    return sha256_json(material)


@dataclass(frozen=True)
class CacheEntry:
    key: str
    path: Path
    stage: str
    outputs_digest: str
    created: float
    key_id: str | None = None  # set when ``out/`` is sealed

    @property
    def out(self) -> Path:
        return self.path / "out"


class StageCache:
    def __init__(self, root: Path, sealer: Sealer | None = None) -> None:
        self.root, self.sealer = root, sealer

    def get(self, key: str) -> CacheEntry | None:
        """The entry under ``key``; None when there is none, or when its ``entry.json`` is
        unreadable or incomplete (a damaged entry is no hit: the stage runs and replaces it)."""
        path = self.root / key
        try:
            meta = json.loads((path / "entry.json").read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or not (path / "out").is_dir():
            return None
        return _entry(key, path, meta)

    def put(
        self, key: str, stage: str, out: Path, outputs_digest: str, *, replace: bool = False
    ) -> CacheEntry:
        """Move ``out`` into the cache under ``key`` (atomically); return the entry. With
        ``replace`` a present entry is swapped for this one (a forced re-run's outputs win), and
        so is a damaged one (its ``entry.json`` does not read back). With a sealer, ``out`` is
        sealed into the entry and left where it is."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            meta: dict[str, object] = {
                "stage": stage,
                "outputs_digest": outputs_digest,
                "created": time.time(),
            }
            if self.sealer is not None:
                seal_tree(
                    out,
                    tmp / "out",
                    self.sealer,
                    stage=stage,
                    digest=outputs_digest,
                    public=REPORT_FILES,
                    entry=key,  # a folder swapped in from another entry is refused
                )
                meta["encryption"] = {"cipher": CIPHER, "key_id": self.sealer.key_id}
            elif _same_filesystem(out, self.root):
                os.rename(out, tmp / "out")
            else:
                shutil.copytree(out, tmp / "out", symlinks=True)
            (tmp / "entry.json").write_text(json.dumps(meta, sort_keys=True))
            target = self.root / key
            damaged = (target.exists() or target.is_symlink()) and self.get(key) is None
            swap_into_place(tmp, target, replace=replace or damaged)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        entry = self.get(key)
        if entry is None:
            raise LockgateError(
                f"stage {stage!r}: its cache entry {target} did not read back after it "
                "was stored; remove that folder and run again"
            )
        return entry

    def prune(self, *, older_than_s: float | None = None, keep: set[str] | None = None) -> int:
        """Remove entries (and abandoned temporary folders); return how many were removed."""
        if not self.root.is_dir():
            return 0
        now, removed = time.time(), 0
        for path in self.root.iterdir():
            if path.name.startswith(".tmp-"):
                if now - path.stat().st_mtime > 3600:
                    shutil.rmtree(path, ignore_errors=True)
                continue
            if keep and path.name in keep:
                continue
            entry = self.get(path.name)
            if older_than_s is not None and entry and now - entry.created < older_than_s:
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
        return removed


def _entry(key: str, path: Path, meta: dict[str, object]) -> CacheEntry | None:
    """The entry ``entry.json`` describes, or None when a field is missing or of another type."""
    stage, digest, created = meta.get("stage"), meta.get("outputs_digest"), meta.get("created")
    sealed = meta.get("encryption") or {}
    if not isinstance(sealed, dict):
        return None
    key_id = sealed.get("key_id")
    if (
        not isinstance(stage, str)
        or not isinstance(digest, str)
        or not isinstance(created, int | float)
        or not isinstance(key_id, str | None)
    ):
        return None
    return CacheEntry(key, path, stage, digest, float(created), key_id)


def swap_into_place(new: Path, target: Path, *, replace: bool) -> None:
    """Rename the folder ``new`` to ``target``. A present ``target`` is kept (and ``new``
    discarded) unless ``replace``: then it is renamed aside, ``new`` takes its place, and the old
    folder is removed; there is no moment without a whole folder at a readable name."""
    try:
        os.rename(new, target)
        return
    except OSError:
        if not replace:  # another run stored the same key first: theirs is as good
            shutil.rmtree(new, ignore_errors=True)
            return
    old = target.parent / f".tmp-old-{uuid.uuid4().hex}"
    os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


def _same_filesystem(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_dev == b.stat().st_dev
    except OSError:
        return False
