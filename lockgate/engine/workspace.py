"""Where a project's run-time state lives, and how stage cache keys are resolved: upstream
outputs come from this run, from ``--upstream-dir`` (CI artifacts), or from the cache."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lockgate.engine.cache import CacheEntry, StageCache, cache_key
from lockgate.engine.digests import FileDigests, inputs_digest, tree_digest
from lockgate.engine.plan import Plan
from lockgate.engine.sealed_tree import is_sealed
from lockgate.engine.sealing import Sealer
from lockgate.engine.stagespec import StageSpec
from lockgate.errors import LockgateError


@dataclass(frozen=True)
class Workspace:
    """Where a project's run-time state lives (``.lockgate/`` beside the spec)."""

    project: Path
    sealer: Sealer | None = None  # ``encryption:``: cache entries are sealed with it

    @property
    def root(self) -> Path:
        return self.project / ".lockgate"

    @property
    def cache(self) -> StageCache:
        return StageCache(self.root / "cache", self.sealer)

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def files(self) -> FileDigests:
        return FileDigests(self.root / "file-digests.json")


class KeyResolver:
    """Computes cache keys; upstream outputs come from this run, ``--upstream-dir`` or the cache."""

    def __init__(
        self,
        full: Plan,
        ws: Workspace,
        files: FileDigests,
        upstream_dir: Path | None,
        sealed_digest: Callable[[str, Path], str] | None = None,
        entry_problem: Callable[[CacheEntry, str], str | None] | None = None,
    ):
        self.full = full.by_name()
        self.ws, self.files, self.upstream_dir = ws, files, upstream_dir
        self.sealed_digest = sealed_digest  # a sealed --upstream-dir folder's plaintext digest
        self.entry_problem = entry_problem  # why a cache entry cannot be read by this run
        self.outputs: dict[str, tuple[str, Path]] = {}  # stage -> (outputs digest, folder)

    def key(self, spec: StageSpec) -> str:
        upstream = {n: self.upstream_output(n)[0] for n in spec.needs}
        inputs = inputs_digest(self.ws.project, spec.inputs, self.files)
        return cache_key(spec, inputs=inputs, upstream=upstream)

    def upstream_output(self, name: str) -> tuple[str, Path]:
        if name in self.outputs:
            return self.outputs[name]
        if self.upstream_dir is not None and (self.upstream_dir / name).is_dir():
            folder = self.upstream_dir / name
            if is_sealed(folder) and self.sealed_digest is not None:
                found = (self.sealed_digest(name, folder), folder)
            else:
                if self.ws.sealer is not None:
                    raise LockgateError(
                        f"{folder}: stage {name!r}'s outputs are not sealed, but lockgate.yaml "
                        "sets `encryption:`, so a run of this spec exports them sealed: this "
                        "folder came from elsewhere or was replaced. Export it again from a run "
                        "with encryption on"
                    )
                _refuse_sealed_files(folder)
                found = (tree_digest(folder), folder)
        else:
            entry = self.ws.cache.get(self.key(self.full[name]))
            if entry is None:
                raise LockgateError(
                    f"stage {name!r}: its outputs are needed but not cached; run it first "
                    f"(`lockgate run --stage {name}`) or pass --upstream-dir with its outputs"
                )
            problem = self.entry_problem(entry, name) if self.entry_problem else None
            if problem == "replace":
                raise LockgateError(
                    f"stage {name!r}: its cache entry {entry.key[:12]} was written before "
                    "`encryption:` was set, and a run with encryption does not read plaintext "
                    f"entries; run stage {name!r} too (without --only) to replace it sealed"
                )
            if problem:
                raise LockgateError(problem)
            found = (entry.outputs_digest, entry.out)
        self.outputs[name] = found
        return found


def _refuse_sealed_files(folder: Path) -> None:
    """A folder taken as plaintext must not hold sealed files: a sealed folder whose index was
    removed would otherwise hand its ciphertext to the stage as data."""
    from lockgate.engine.sealed_file import MAGIC as SEGMENTED
    from lockgate.engine.sealed_tree import INDEX
    from lockgate.engine.sealing import MAGIC as ONE_MESSAGE

    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as f:
                if f.read(len(SEGMENTED)) in (SEGMENTED, ONE_MESSAGE):
                    raise LockgateError(
                        f"{path}: a sealed file in a folder without its index "
                        f"({folder / INDEX} is missing): the folder is incomplete; export it again"
                    )


def every_stage_cached(full: Plan, selected: Plan, upstream_dir: Path | None) -> bool:
    """Whether each selected stage would be a cache hit: then nothing runs, and no executor
    needs to be probed or loaded beyond its name. With ``encryption:`` a plaintext entry is no
    hit (the run re-makes it sealed), and without it a sealed one is none either."""
    ws = Workspace(full.project)
    keys = KeyResolver(full, ws, ws.files(), upstream_dir)
    sealed = full.encryption is not None
    try:
        for s in selected.stages:
            entry = ws.cache.get(keys.key(s)) if s.use_cache else None
            if entry is None or (entry.key_id is not None) != sealed:
                return False
        return True
    except LockgateError:  # an upstream output is missing: something will run
        return False
