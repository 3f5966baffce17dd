"""What a finished stage hands to later steps: the image digest it built or signed, its gate
verdict, and where its report is — read from the files the stage wrote, nothing guessed."""

from __future__ import annotations

import json
from pathlib import Path

from lockgate.ci.outputs import DIGEST_REF

DIGEST_FILES = ("image.json", "signed.json")  # package's record, sign's record
VERDICT_FILES = ("metrics.json", "scan-verdict.json")


def stage_outputs(stage: str, export_dir: Path) -> dict[str, str]:
    """``digest`` (``REF@sha256:...``), ``verdict`` and ``report`` (a path); empty when absent."""
    folder = export_dir / stage
    outputs = {"digest": "", "verdict": "", "report": ""}
    for name in DIGEST_FILES:
        record = _read(folder / name)
        ref = str(record.get("ref") or record.get("image") or "")
        if DIGEST_REF.match(ref):
            outputs["digest"] = ref
            break
    for name in VERDICT_FILES:
        verdict = _read(folder / name).get("verdict")
        if isinstance(verdict, str) and verdict.isprintable() and len(verdict) < 64:
            outputs["verdict"] = verdict
            break
    if (folder / "report.md").is_file():
        outputs["report"] = (folder / "report.md").as_posix()
    return outputs


def _read(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
