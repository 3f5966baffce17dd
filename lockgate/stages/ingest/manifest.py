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
from typing import Any

from lockgate.errors import LockgateError
from lockgate.stages.ingest.journal import Journal, encode_value, write_durably

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


def publish(sink_data: Path, out: Path, journal: Journal, summary: RunSummary) -> Path:
    """Link (or copy) the journal's parts into ``out/data`` and write ``out/manifest.json``."""
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    for part in journal.parts:
        target = data / part.file
        if target.exists() or sink_data.resolve() == data.resolve():
            continue
        try:
            os.link(sink_data / part.file, target)
        except OSError:
            shutil.copy2(sink_data / part.file, target)
    body = {
        "format": FORMAT,
        "source": summary.source,
        "rows": sum(p.rows for p in journal.parts),
        "schema": summary.schema,
        "files": [
            {"path": f"data/{p.file}", "rows": p.rows, "bytes": p.bytes, "sha256": p.sha256}
            for p in journal.parts
        ],
        "digest": "sha256:"
        + hashlib.sha256("".join(p.sha256 for p in journal.parts).encode()).hexdigest(),
        "watermark": {"column": summary.watermark_column, "value": encode_value(journal.watermark)}
        if summary.watermark_column
        else None,
        "this_run": {"batches": summary.batches, "rows": summary.rows_read},
    }
    if "key_id" in journal.meta:
        body["encryption"] = {"cipher": "AES-256-GCM", "key_id": journal.meta["key_id"]}
    path = out / MANIFEST
    write_durably(path, (json.dumps(body, indent=2) + "\n").encode())
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_digest(path: Path) -> str:
    """The ``sha256:...`` digest over a manifest's parts: the dataset's identity in lineage."""
    try:
        return str(json.loads(path.read_text())["digest"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{path}: not an ingest manifest ({exc})") from None


def manifest_files(path: Path) -> list[Path]:
    """The parts a manifest lists, each checked against its recorded digest."""
    try:
        raw = json.loads(path.read_text())
        files = raw["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{path}: not an ingest manifest ({exc})") from None
    if raw.get("encryption"):
        raise ManifestError(
            f"{path}: its parts are encrypted (key {raw['encryption'].get('key_id')}); "
            "readers of sealed parts are not built yet"
        )
    found = []
    for entry in files:
        part = path.parent / entry["path"]
        if not part.is_file():
            raise ManifestError(f"{path}: part {entry['path']} is missing")
        if _sha256(part) != entry["sha256"]:
            raise ManifestError(
                f"{path}: part {entry['path']} does not match its recorded sha256; "
                "re-run the ingest stage"
            )
        found.append(part)
    return found
