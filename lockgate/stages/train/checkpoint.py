"""Training state on disk: written atomically every N steps, read back to resume.

A checkpoint is one ``step-NNNNNNNN.pt`` file holding the model, optimizer, scheduler and
grad-scaler states, the position in the data (epoch, step within epoch), the RNG states and the
per-epoch history so far. It is written to a temporary file in the same folder, flushed to disk,
then renamed over its final name, so a pre-empted machine leaves either the old or the new
checkpoint, never half of one. The folder is keyed by a fingerprint of everything that shapes
training, so a changed config starts fresh instead of resuming someone else's state. A run that
completes marks its folder finished: the next run of the same inputs (``--no-cache``, a local
re-run) trains again from step 0; only an interrupted run is resumed.

With ``encryption:`` in lockgate.yaml each checkpoint is sealed (AES-256-GCM, in memory, so no
plaintext copy touches the disk; it costs a second copy of the checkpoint in memory while it is
written). A sealed checkpoint that fails to open is an error, never skipped or used; a plaintext
one from before encryption was on is not resumed from.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.engine.sealing import Sealer

PREFIX = "step-"
FINISHED = "finished.json"
AMP_CHOICE = "amp-choice.json"  # what ``amp: auto`` picked for the run these checkpoints are of


def fingerprint(parts: Mapping[str, Any]) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CheckpointStore:
    folder: Path
    keep: int = 2
    sealer: Sealer | None = None

    def path_for(self, global_step: int) -> Path:
        return self.folder / f"{PREFIX}{global_step:08d}.pt"

    def existing(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob(f"{PREFIX}*.pt") if p.stem[5:].isdigit())

    def save(self, state: Mapping[str, Any]) -> Path:
        import torch

        self.folder.mkdir(parents=True, exist_ok=True)
        if self.sealer is not None:  # a KMS-wrapped data key stays beside its checkpoints
            self.sealer.keep_beside(self.folder)
        final = self.path_for(int(state["global_step"]))
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                if self.sealer is None:
                    torch.save(dict(state), fh)
                else:
                    buf = io.BytesIO()
                    torch.save(dict(state), buf)
                    fh.write(self.sealer.seal(buf.getbuffer(), final.name))
                fh.flush()
                os.fsync(fh.fileno())
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

    def clear(self) -> None:
        """Start over: remove every checkpoint, the finished mark and the run's ``amp: auto``
        choice."""
        for path in self.existing():
            path.unlink(missing_ok=True)
        (self.folder / FINISHED).unlink(missing_ok=True)
        (self.folder / AMP_CHOICE).unlink(missing_ok=True)

    def load_latest(self) -> dict[str, Any] | None:
        """The newest checkpoint that loads; an unreadable one is skipped, not fatal."""
        import torch

        for path in reversed(self.existing()):
            source = self._opened(path)
            if source is None:
                continue
            try:
                # tensors and plain containers only: a planted checkpoint cannot run code
                return dict(torch.load(source, map_location="cpu", weights_only=True))
            except Exception:  # a truncated file from a crash in an older version, say
                continue
        return None

    def _opened(self, path: Path) -> Path | io.BytesIO | None:
        """What to load: the file, its opened contents, or None for a plaintext checkpoint when
        checkpoints are sealed. A sealed one that does not open raises, naming the file."""
        from lockgate.engine.sealing import MAGIC, SealError

        with open(path, "rb") as fh:
            sealed = fh.read(len(MAGIC)) == MAGIC
        if self.sealer is None:
            if sealed:
                raise SealError(
                    f"{path}: the checkpoint is sealed, but lockgate.yaml sets no `encryption:`; "
                    "set it to the key it was sealed with, or set resume: false"
                )
            return path
        if not sealed:
            return None
        return io.BytesIO(self.sealer.open(path.read_bytes(), path.name, str(path)))


def capture_rng(device: Any) -> dict[str, Any]:
    import random

    import torch

    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: Mapping[str, Any], device: Any) -> None:
    import random

    import torch

    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
