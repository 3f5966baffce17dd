"""Training state on disk: written atomically every N steps, read back to resume.

A checkpoint is one ``step-NNNNNNNN.pt`` file holding the model, optimizer, scheduler and
grad-scaler states, the position in the data (epoch, step within epoch), the RNG states and the
per-epoch history so far. It is written to a temporary file in the same folder, flushed to disk,
then renamed over its final name, so a pre-empted machine leaves either the old or the new
checkpoint, never half of one. The folder is keyed by a fingerprint of everything that shapes
training, so a changed config starts fresh instead of resuming someone else's state; each
checkpoint also carries that run fingerprint (config, data and the entrypoint's code), and one of
another fingerprint found in the folder (``checkpoint_dir:`` shared by a changed run) is skipped
with a notice, never resumed. A run that completes marks its folder finished: the next run of
the same inputs (``--no-cache``, a local re-run) trains again from step 0; only an interrupted
run is resumed.

With ``encryption:`` in lockgate.yaml each checkpoint is sealed (AES-256-GCM, in memory, so no
plaintext copy touches the disk; it costs a second copy of the checkpoint in memory while it is
written). The seal is bound to the stage, the run fingerprint and the file name
(``checkpoint:STAGE/FINGERPRINT/step-N.pt``), so a sealed checkpoint copied in from another stage
or run does not open. A sealed checkpoint that fails to open is an error naming the file and
what to do (delete it or set ``resume: false``), never skipped or used; a plaintext one from
before encryption was on is not resumed from.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lockgate.errors import LockgateError

if TYPE_CHECKING:
    from lockgate.engine.sealing import Sealer


class CheckpointError(LockgateError):
    """A checkpoint that cannot be resumed from in this run."""


PREFIX = "step-"
FINISHED = "finished.json"
AMP_CHOICE = "amp-choice.json"  # what ``amp: auto`` picked for the run these checkpoints are of


def fingerprint(parts: Mapping[str, Any]) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Resumable:
    """The checkpoint a run resumes from, and the ones skipped on the way to it."""

    path: Path
    state: dict[str, Any]


@dataclass(frozen=True)
class CheckpointStore:
    folder: Path
    keep: int = 2
    sealer: Sealer | None = None
    stage: str = "train"
    run_key: str = ""  # the run fingerprint every checkpoint carries and must match to resume
    notices: list[str] = field(default_factory=list, compare=False)  # what load skipped, why

    def path_for(self, global_step: int) -> Path:
        return self.folder / f"{PREFIX}{global_step:08d}.pt"

    def existing(self) -> list[Path]:
        """Checkpoints oldest first, by step number (not as text: step 100,000,000 sorts
        after 99,999,999)."""
        if not self.folder.is_dir():
            return []
        found = [p for p in self.folder.glob(f"{PREFIX}*.pt") if p.stem[5:].isdigit()]
        return sorted(found, key=lambda p: int(p.stem[5:]))

    def sealed_name(self, path: Path) -> str:
        """What a sealed checkpoint is bound to: this stage, this run's fingerprint, its name."""
        return f"checkpoint:{self.stage}/{self.run_key}/{path.name}"

    def save(self, state: Mapping[str, Any]) -> Path:
        import torch

        self.folder.mkdir(parents=True, exist_ok=True)
        if self.sealer is not None:  # a KMS-wrapped data key stays beside its checkpoints
            self.sealer.keep_beside(self.folder)
        final = self.path_for(int(state["global_step"]))
        state = {**state, "fingerprint": self.run_key}
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=self.folder)
        try:
            if self.sealer is None:
                with os.fdopen(fd, "wb") as fh:
                    torch.save(state, fh)
                    fh.flush()
                    os.fsync(fh.fileno())
            else:
                from lockgate.stages.train.sealed_checkpoint import write_sealed

                os.close(fd)
                write_sealed(self.sealer, state, Path(tmp), self.sealed_name(final))
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        for old in self.existing()[: -self.keep]:
            old.unlink(missing_ok=True)
        return final

    def finished(self) -> bool:
        return (self.folder / FINISHED).is_file()

    def mark_finished(self, global_step: int) -> None:
        """Record that the run whose checkpoints these are completed (atomically)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".tmp-{FINISHED}"
        tmp.write_text(json.dumps({"global_step": global_step}))
        os.replace(tmp, self.folder / FINISHED)

    def clear(self, *, keep_amp_choice: bool = False) -> None:
        """Start over: remove every checkpoint, the finished mark and (unless kept: it was
        just measured for this run) the run's ``amp: auto`` choice."""
        for path in self.existing():
            path.unlink(missing_ok=True)
        (self.folder / FINISHED).unlink(missing_ok=True)
        if not keep_amp_choice:
            (self.folder / AMP_CHOICE).unlink(missing_ok=True)

    def load_latest(self) -> dict[str, Any] | None:
        found = self.resumable()
        return found.state if found else None

    def resumable(self) -> Resumable | None:
        """The newest checkpoint that loads and is of this run's fingerprint. An unreadable one
        or one of another fingerprint is skipped, each with a one-line notice in ``notices``."""
        for path in reversed(self.existing()):
            try:
                source = self._opened(path)
            except FileNotFoundError:  # under DDP the chief removed a skipped one meanwhile
                continue
            if source is None:
                continue
            if isinstance(source, Path):
                found = self._loaded(path, source)
            else:
                with source:  # a sealed one, opened in memory
                    found = self._loaded(path, source)
            if found is not None:
                return found
        return None

    def _loaded(self, path: Path, source: Path | IO[bytes]) -> Resumable | None:
        """``source`` loaded, if it is a readable checkpoint of this run (else a notice)."""
        import torch

        try:
            # tensors and plain containers only: a planted checkpoint cannot run code
            state = dict(torch.load(source, map_location="cpu", weights_only=True))
        except Exception as exc:  # a truncated file from a crash in an older version, say
            why = str(exc).strip().splitlines()[0].split(". ")[0][:160] if str(exc) else ""
            self.notices.append(
                f"train: skipping unreadable checkpoint {path} ({type(exc).__name__}"
                f"{': ' + why if why else ''})"
            )
            return None
        if state.get("fingerprint") != self.run_key:
            self.notices.append(
                f"train: not resuming {path}: it is of another run (config, data or model "
                f"code changed; fingerprint {state.get('fingerprint') or 'none'}, this run "
                f"{self.run_key or 'none'}); starting fresh"
            )
            return None
        return Resumable(path, state)

    def discard_newer(self, than: int | None) -> None:
        """Remove checkpoints past step ``than`` (all with None): ones skipped on resume, which
        would otherwise outrank this run's own in pruning and in the next resume."""
        for path in self.existing():
            if than is None or int(path.stem[5:]) > than:
                path.unlink(missing_ok=True)

    def _opened(self, path: Path) -> Path | IO[bytes] | None:
        """What to load: the file, its opened contents, or None for a plaintext checkpoint when
        checkpoints are sealed. A sealed one that does not open raises, naming the file."""
        from lockgate.engine.sealing import SealError
        from lockgate.stages.train.sealed_checkpoint import is_sealed, open_sealed

        with open(path, "rb") as fh:
            sealed = is_sealed(fh.read(16))
        if self.sealer is None:
            if sealed:
                raise SealError(
                    f"{path}: the checkpoint is sealed, but lockgate.yaml sets no `encryption:`; "
                    "set it to the key it was sealed with, or set resume: false"
                )
            return path
        if not sealed:
            return None
        try:
            return open_sealed(self.sealer, path, self.sealed_name(path))
        except SealError as exc:
            if exc.kind != "tampered":
                raise  # another key: the sealer's message says which to restore
        try:  # before checkpoints were bound to their stage and run: the file name alone
            open_sealed(self.sealer, path, path.name).close()
            why = "sealed by an older lockgate, bound to its file name only (maybe another run's)"
        except SealError:
            why = (
                f"does not open as a checkpoint of stage {self.stage!r} and this run's "
                "fingerprint (altered, or copied from another stage or run)"
            )
        raise SealError(f"{path}: {why}; delete it or set resume: false") from None


def capture_rng(device: Any) -> dict[str, Any]:
    import random

    import torch

    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    numpy = sys.modules.get("numpy")
    if numpy is not None:  # as tensors and ints, which ``weights_only`` loading accepts
        _kind, keys, pos, has_gauss, cached = numpy.random.get_state()
        state["numpy"] = {
            "keys": torch.from_numpy(keys.astype("int64")),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: Mapping[str, Any], device: Any) -> None:
    import random

    import torch

    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    saved = state.get("numpy")
    if saved is not None:
        import numpy

        keys = saved["keys"].numpy().astype(numpy.uint32)
        numpy.random.set_state(
            ("MT19937", keys, saved["pos"], saved["has_gauss"], saved["cached_gaussian"])
        )
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
