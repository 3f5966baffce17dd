"""Where a project's run-time state lives, and how stage cache keys are resolved: upstream
outputs come from this run, from ``--upstream-dir`` (CI artifacts), or from the cache."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lockgate.engine.cache import StageCache, cache_key
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
    ):
        self.full = full.by_name()
        self.ws, self.files, self.upstream_dir = ws, files, upstream_dir
        self.sealed_digest = sealed_digest  # a sealed --upstream-dir folder's plaintext digest
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
                found = (tree_digest(folder), folder)
        else:
            entry = self.ws.cache.get(self.key(self.full[name]))
            if entry is None:
                raise LockgateError(
                    f"stage {name!r}: its outputs are needed but not cached; run it first "
                    f"(`lockgate run --stage {name}`) or pass --upstream-dir with its outputs"
                )
            found = (entry.outputs_digest, entry.out)
        self.outputs[name] = found
        return found


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
