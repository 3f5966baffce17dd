"""The manifest an ingest stage writes next to its Parquet parts, and how consumers read it.

``manifest.json`` lists every part (path, rows, bytes, sha256), the output schema, the source
(never its credentials), the watermark and a digest over the parts, so ``data-check``, ``train``
and lineage can name exactly which data a model saw. :func:`manifest_files` re-checks each part's
digest before handing its path to a reader.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.errors import LockgateError
from lockgate.stages.ingest.journal import (
    JOURNAL,
    SEALED,
    Journal,
    JournalError,
    Part,
    Sink,
    write_durably,
)
from lockgate.stages.ingest.values import encode_value

if TYPE_CHECKING:
    from lockgate.stages.upstream_files import UpstreamFiles

MANIFEST = "manifest.json"
FORMAT = "lockgate-ingest/1"


class ManifestError(LockgateError):
    """A manifest, or a part it lists, does not match what is on disk."""


@dataclass(frozen=True)
class RunSummary:
    source: dict[str, Any]
    schema: dict[str, str]
    watermark_column: str | None
    batches: int
    rows_read: int


def publish(sink: Sink, out: Path, journal: Journal, summary: RunSummary) -> Path:
    """Link (or copy) the journal's parts into ``out/data`` and write ``out/manifest.json``.
    Parts sealed in the state folder are opened into the output (which the engine's cache
    seals in turn), so readers downstream get plain Parquet."""
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    parts = [_publish_part(sink, journal, data, p) for p in journal.parts]
    body = {
        "format": FORMAT,
        "source": summary.source,
        "rows": sum(p.rows for p in parts),
        "schema": summary.schema,
        "files": [
            {"path": f"data/{p.file}", "rows": p.rows, "bytes": p.bytes, "sha256": p.sha256}
            for p in parts
        ],
        "digest": "sha256:" + hashlib.sha256("".join(p.sha256 for p in parts).encode()).hexdigest(),
        "watermark": {"column": summary.watermark_column, "value": encode_value(journal.watermark)}
        if summary.watermark_column
        else None,
        "this_run": {"batches": summary.batches, "rows": summary.rows_read},
    }
    path = out / MANIFEST
    # the output folder is never resumed from: a crash runs the stage again, so no fsync
    write_durably(path, (json.dumps(body, indent=2) + "\n").encode(), sync=False)
    return path


def _publish_part(sink: Sink, journal: Journal, data: Path, part: Part) -> Part:
    """The part as it appears in the output: linked as it is, or opened when sealed. A part
    kept in the state folder must match the journal (there, its size, its sha256); a sealed
    one opens only under its dataset's name, so a part copied from another dataset fails."""
    if part.file.endswith(SEALED) and sink.sealer is not None:
        source = sink.part_file(part)
        target = data / part.file.removesuffix(SEALED)
        if not target.exists():
            name = sink.sealed_name(journal, part.file)
            from lockgate.engine.sealing import SealError

            try:
                sink.sealer.open_file(source, target, name, str(source))
            except SealError as exc:  # no stage re-writes a kept part: the dataset starts over
                raise sink.restart(exc) from None
        if _sha256(source) != part.sha256:  # authentic, but not the version the journal lists
            target.unlink()
            raise _not_recorded(sink, source)
        return Part(target.name, part.rows, target.stat().st_size, _sha256(target))
    target = data / part.file
    if not target.exists() and sink.data.resolve() != data.resolve():
        source = sink.part_file(part)
        if _sha256(source) != part.sha256:
            raise _not_recorded(sink, source)
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)
    return part


def _not_recorded(sink: Sink, path: Path) -> JournalError:
    return sink.part_error(path, f"not the part {JOURNAL} recorded (its sha256 differs)")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_manifest(path: Path, upstream: UpstreamFiles | None) -> Any:
    if upstream is None:
        return json.loads(path.read_text())
    with upstream.open(path) as f:
        return json.loads(f.read())


def manifest_digest(path: Path, upstream: UpstreamFiles | None = None) -> str:
    """The ``sha256:...`` digest over a manifest's parts: the dataset's identity in lineage."""
    try:
        return str(_read_manifest(path, upstream)["digest"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{path}: not an ingest manifest ({exc})") from None


def manifest_files(path: Path, upstream: UpstreamFiles | None = None) -> list[Path]:
    """The parts a manifest lists, each checked against its recorded digest. With ``upstream``
    and the manifest in a sealed upstream output, the parts are read from there in place: the
    sealed folder's tags vouch for every part under its name, so they are not hashed again."""
    sealed = upstream is not None and upstream.sealed(path)
    try:
        raw = _read_manifest(path, upstream)
        files = raw["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{path}: not an ingest manifest ({exc})") from None
    if raw.get("encryption"):  # written by a lockgate that sealed parts in the output
        raise ManifestError(
            f"{path}: its parts are sealed in the output (key "
            f"{raw['encryption'].get('key_id')}); re-run the ingest stage"
        )
    found = []
    for entry in files:
        part = path.parent / entry["path"]
        if not (upstream.is_file(part) if upstream is not None else part.is_file()):
            raise ManifestError(f"{path}: part {entry['path']} is missing")
        if not sealed and _sha256(part) != entry["sha256"]:
            raise ManifestError(
                f"{path}: part {entry['path']} does not match its recorded sha256; "
                "re-run the ingest stage"
            )
        found.append(part)
    return found
