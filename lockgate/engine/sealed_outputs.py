"""What a run does with sealed outputs: open them for the stages that read them, check a cache
entry's key before a hit counts, seal exports, and leave no plaintext behind when it ends.

Plaintext exists only while a run needs it: a stage's fresh ``out/`` until the run ends, and a
sealed upstream output opened into ``runs/<id>/<stage>/out`` the first time a stage of this run
reads it (a cache hit that nothing reads is never opened). When the run ends every plaintext
output folder of the run is removed, and so are the stages' ``caches:`` folders, which last one
run when encryption is on; what stays at rest is sealed. A stage's log (what it
printed, which can hold data) is sealed as it is written (:mod:`lockgate.engine.sealed_log`).
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lockgate.contract import REPORT_FILES
from lockgate.engine.cache import CacheEntry, swap_into_place
from lockgate.engine.digests import tree_digest
from lockgate.engine.leftovers import RUN_CACHES
from lockgate.engine.sealed_log import LogWriter, log_writer
from lockgate.engine.sealed_tree import (
    INDEX,
    is_sealed,
    open_index,
    open_tree,
    seal_tree,
    sealed_key_id,
    vouched,
)
from lockgate.engine.sealing import Sealer, SealError


def resolve_sealer(
    ref: str | None,
    secrets: Mapping[str, Mapping[str, Any]],
    project: Path,
    credentials: Mapping[str, str] | None = None,
    ca_file: str | None = None,
) -> tuple[Sealer | None, list[str]]:
    """The run's sealer from ``encryption.key``, and the text of the key and of every secret
    read for it (for the log masker): each text as read and stripped, and the key in every
    form ``key_bytes`` accepts and a stage may print it in (hex in either case, base64 and
    url-safe base64, padded or not). A KMS key wraps the data key of ``.lockgate/``."""
    if ref is None:
        return None, []
    import base64

    from lockgate.engine.secrets import resolve_secrets

    seen: list[str] = []

    def read(name: str) -> str:
        if name not in secrets:
            raise KeyError(name)
        seen.append(resolve_secrets(secrets, [name], project)[name])
        return seen[-1]

    def resolve(path: str) -> Path:
        return project / path

    store = project / ".lockgate"
    sealer = Sealer.resolve(
        ref, read, resolve, store=store, credentials=credentials, ca_file=ca_file
    )
    if ref.startswith("file:"):
        seen.append(resolve(ref[5:]).read_text().strip())
    key = sealer.key
    forms = [key.hex(), key.hex().upper()]
    for encoded in (base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()):
        forms += [encoded, encoded.rstrip("=")]
    return sealer, [*seen, *(text.strip() for text in seen), *forms]


class SealedOutputs:
    def __init__(
        self, sealer: Sealer | None, run_dir: Path, cache_root: Path | None = None
    ) -> None:
        self.sealer, self.run_dir, self.cache_root = sealer, run_dir, cache_root
        self.opened: dict[str, Path] = {}
        self.kept: dict[str, Path] = {}  # stage run here -> its sealed outputs
        self._lock = threading.Lock()

    def entry_problem(self, entry: CacheEntry, name: str) -> str | None:
        """Why a cache entry cannot be a hit; ``"replace"`` for a plaintext entry that a run
        with encryption re-makes sealed."""
        mine = self.sealer.key_id if self.sealer else None
        if entry.key_id is not None and not is_sealed(entry.out):
            return (
                f"stage {name!r}: its cache entry {entry.key[:12]} is sealed, but "
                f"{entry.out / INDEX} is missing (the entry was altered); re-run with --no-cache "
                "to replace it"
            )
        if entry.key_id == mine:
            return None
        if entry.key_id is not None and self.sealer is not None:
            try:
                if self.sealer.knows(entry.key_id, entry.path):
                    return None  # another data key the KMS key wraps
            except SealError as exc:
                return f"stage {name!r}: its cache entry {entry.key[:12]}: {exc}"
        if entry.key_id is None:
            return "replace"
        now = f"the configured key is {mine}" if mine else "lockgate.yaml sets no `encryption:`"
        return (
            f"stage {name!r}: its cache entry {entry.key[:12]} is sealed with key "
            f"{entry.key_id}, but {now}; restore that key, or re-run with --no-cache to "
            "replace the entry"
        )

    def sealed_digest(self, name: str, folder: Path) -> str:
        """The plaintext outputs digest a sealed folder (``--upstream-dir``) vouches for."""
        return str(open_index(folder, self._need_sealer(folder), stage=name)["outputs_digest"])

    def readable(self, name: str, folder: Path, digest: str | None = None) -> Path:
        """``folder`` itself when plain; else opened (once per run) into the run's folder. A
        sealed folder must vouch for ``digest``, the outputs digest the reader's cache key was
        computed from (and, in the cache, for its entry)."""
        if not is_sealed(folder):
            return folder
        with self._lock:
            if name not in self.opened:
                target = self.run_dir / name / "out"
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists() or target.is_symlink():
                    target.unlink() if target.is_symlink() else shutil.rmtree(target)
                sealer, entry = self._need_sealer(folder), self._entry(folder)
                open_tree(folder, target, sealer, stage=name, digest=digest, entry=entry)
                self.opened[name] = target
            return self.opened[name]

    def vouch(self, name: str, folder: Path, digest: str) -> None:
        """Check, without opening the files, that a sealed folder a stage will read in place
        holds the outputs its cache key was computed from."""
        if is_sealed(folder):
            index = open_index(folder, self._need_sealer(folder), stage=name)
            vouched(index, folder, name, digest, self._entry(folder))

    def _entry(self, folder: Path) -> str | None:
        """The cache key ``folder`` belongs to, when it is a cache entry's ``out``."""
        cached = self.cache_root is not None and folder.parent.parent == self.cache_root
        return folder.parent.name if cached else None

    def seal_uncached(self, name: str, out: Path, digest: str) -> Path:
        """A stage that is not cached keeps its outputs sealed in its run folder."""
        sealed = out.with_name("out.sealed")
        sealer = self._need_sealer(out)
        seal_tree(out, sealed, sealer, stage=name, digest=digest, public=REPORT_FILES)
        return sealed

    def export(self, name: str, out: Path, export_dir: Path, digest: str) -> None:
        """Copy the stage's outputs (their plaintext digest ``digest``) to ``export_dir/name``:
        sealed when encryption is on. A sealed folder must vouch for ``digest`` (and, a cache
        entry's, for that entry) before it is shipped: a swapped entry would otherwise reach the
        next job, which cannot tell which entry it came from."""
        export_dir.mkdir(parents=True, exist_ok=True)
        fresh = export_dir / f".tmp-{name}-{uuid.uuid4().hex}"
        if is_sealed(out):
            self.vouch(name, out, digest)
        if self.sealer is None or is_sealed(out):
            shutil.copytree(out, fresh, symlinks=True)
        else:
            digest = tree_digest(out)
            seal_tree(out, fresh, self.sealer, stage=name, digest=digest, public=REPORT_FILES)
        if self.sealer is not None:  # a KMS-wrapped data key travels with the exports
            self.sealer.keep_beside(export_dir, sealed_key_id(fresh))
        swap_into_place(fresh, export_dir / name, replace=True)

    def log_writer(self, stage_dir: Path) -> LogWriter:
        """Where a stage's lines go: ``log.txt``, or sealed as written into ``log.txt.sealed``."""
        return log_writer(self.sealer, stage_dir)

    def cache_folder(self, name: str, kept: Path) -> Path:
        """The folder of a stage's ``caches:`` entry ``name``: ``kept`` between runs, or with
        encryption on, one of this run's (shared by its stages, removed when it ends): lockgate
        cannot tell what a stage keeps there, and sealing a folder a tool writes in place would
        cost a full pass each way on every stage."""
        return kept if self.sealer is None else self.run_dir / RUN_CACHES / name

    def drop_plaintext(self) -> None:
        """Remove every plaintext output folder of the run (encryption on only); the ``out`` of
        a stage that ran becomes a link to its sealed outputs, as it links to the cache entry in
        a plain run (``lockgate report`` reads the report files there)."""
        if self.sealer is None or not self.run_dir.is_dir():
            return
        shutil.rmtree(self.run_dir / RUN_CACHES, ignore_errors=True)
        for stage_dir in self.run_dir.iterdir():
            out = stage_dir / "out"
            # a stage's ``out`` here is always plaintext (sealed outputs are ``out.sealed`` or in
            # the cache), whatever files it holds
            if out.is_dir() and not out.is_symlink():
                shutil.rmtree(out, ignore_errors=True)
                kept = self.kept.get(stage_dir.name)
                if kept is not None and kept.is_dir():
                    out.symlink_to(kept.resolve(), target_is_directory=True)

    def _need_sealer(self, folder: Path) -> Sealer:
        if self.sealer is None:
            raise SealError(
                f"{folder}: sealed with key {sealed_key_id(folder)}, but lockgate.yaml sets no "
                "`encryption:`",
                "set `encryption: {key: ...}` to the key it was sealed with",
                kind="other-key",
            )
        return self.sealer
