"""What the package stage leaves in ``LOCKGATE_OUT``: ``image.json`` (downstream stages refer
to the image by ``ref``, ``REPOSITORY@sha256:...``, never by tag), ``metrics.json`` and
``report.md``."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from lockgate.stages.package.sources import PackagedModel


@dataclass(frozen=True)
class PackagedImage:
    repository: str
    digest: str
    tag: str
    image_id: str
    base: str
    context_digest: str
    size_bytes: int
    build_s: float
    push_s: float

    @property
    def ref(self) -> str:
        return f"{self.repository}@{self.digest}"


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_outputs(
    out: Path, image: PackagedImage, model: PackagedModel, labels: Mapping[str, str]
) -> None:
    record = {
        "repository": image.repository,
        "digest": image.digest,
        "ref": image.ref,
        "tag": image.tag,
        "image_id": image.image_id,
        "base": image.base,
        "context_digest": image.context_digest,
        "model": asdict(model),
        "labels": dict(labels),
    }
    _write_atomic(out / "image.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
    metrics = {
        "image_size_bytes": image.size_bytes,
        "build_seconds": round(image.build_s, 2),
        "push_seconds": round(image.push_s, 2),
    }
    _write_atomic(out / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    _write_atomic(out / "report.md", render_report(image, model, labels))


def render_report(image: PackagedImage, model: PackagedModel, labels: Mapping[str, str]) -> str:
    lines = [
        "## Model image",
        "",
        f"`{image.ref}`",
        "",
        "| | |",
        "|---|---|",
        f"| model | {model.name} {model.version} ({model.flavor}) |",
        f"| from | `{model.source}` |",
        f"| MLflow run | {model.run_id or '-'} |",
        f"| base | `{image.base}` |",
        f"| size | {image.size_bytes / 1e6:.1f} MB |",
        f"| build / push | {image.build_s:.1f}s / {image.push_s:.1f}s |",
        "",
        "<details><summary>Labels</summary>",
        "",
        *[f"- `{k}`: `{v}`" for k, v in labels.items()],
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)
