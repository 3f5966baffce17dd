"""The scan gate from a trivy report to its outputs: verdict, SARIF, GitLab report, SBOM,
report.md and metrics.json, each written atomically into the stage's output folder."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from lockgate.supply.gitlab_report import container_scanning_report
from lockgate.supply.scan_policy import ScanPolicy, evaluate
from lockgate.supply.scan_summary import metrics, render_markdown
from lockgate.supply.scan_verdict import ScanVerdict
from lockgate.supply.trivy_report import TrivyReport
from lockgate.supply.trivy_scan import TrivyScanner
from lockgate.supply.vex import VexStatement

TRIVY_JSON = "trivy.json"
SARIF = "trivy.sarif"
GITLAB = "gl-container-scanning-report.json"
SBOM = "sbom.cdx.json"
VERDICT = "scan-verdict.json"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, doc: Any) -> None:
    write_atomic(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")


@dataclass(frozen=True)
class ScanWindow:
    image: str
    started: datetime
    finished: datetime


def gate_report(
    report: TrivyReport,
    policy: ScanPolicy,
    vex: Sequence[VexStatement],
    today: date,
    out: Path,
    window: ScanWindow,
    converter: TrivyScanner | None,
) -> ScanVerdict:
    """Decide, then write every output. ``out/trivy.json`` must already hold the report when a
    converter is given (SARIF and CycloneDX come from ``trivy convert``)."""
    verdict = evaluate(report.findings, policy, today, vex, artifact=window.image)
    if converter is not None:
        converter.convert(out / TRIVY_JSON, "sarif", out / SARIF)
        converter.convert(out / TRIVY_JSON, "cyclonedx", out / SBOM)
    write_json(
        out / GITLAB,
        container_scanning_report(report, window.image, window.started, window.finished),
    )
    write_json(out / VERDICT, verdict.to_json())
    write_atomic(out / "report.md", render_markdown(verdict, window.image))
    write_json(out / "metrics.json", metrics(verdict))
    return verdict
