"""The scan gate's outputs from golden reports, converted by the real pinned trivy."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime
from pathlib import Path

import jsonschema

from lockgate.supply.gitlab_report import schema_problems
from lockgate.supply.scan_gate import ScanWindow, gate_report
from lockgate.supply.scan_policy import ScanPolicy
from lockgate.supply.tools import Trivy
from lockgate.supply.trivy_report import load_report
from lockgate.supply.trivy_scan import TrivyScanner

WINDOW = ScanWindow(
    "registry.test/app@sha256:" + "c" * 64, datetime(2026, 1, 2), datetime(2026, 1, 2, 0, 0, 3)
)


def _gate(trivy: Trivy, fixture: Path, out: Path, policy: ScanPolicy):
    out.mkdir()
    shutil.copy(fixture, out / "trivy.json")
    report = load_report(out / "trivy.json")
    return gate_report(report, policy, (), date(2026, 1, 2), out, WINDOW, TrivyScanner(trivy))


def test_every_output_is_written_and_valid(
    trivy: Trivy, trivy_fixtures: Path, sarif_schema: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    verdict = _gate(trivy, trivy_fixtures / "alpine-310.json", out, ScanPolicy(fail_on=["MEDIUM"]))
    assert not verdict.passed
    sarif = json.loads((out / "trivy.sarif").read_text())
    jsonschema.validate(sarif, json.loads(sarif_schema.read_text()))
    assert sorted({r["ruleId"] for r in sarif["runs"][0]["results"]}) == [
        "CVE-2019-1549",
        "CVE-2019-1551",
    ]
    assert (
        schema_problems(json.loads((out / "gl-container-scanning-report.json").read_text())) == []
    )
    sbom = json.loads((out / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["specVersion"] == "1.6"
    assert [c["name"] for c in sbom["components"]] == ["alpine"]  # golden holds no package list
    written = json.loads((out / "scan-verdict.json").read_text())
    assert written["passed"] is False and written["counts"]["MEDIUM"] == 4
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["scan_medium"] == 4 and metrics["scan_verdict"] == "failed"
    report_md = (out / "report.md").read_text()
    assert "| MEDIUM | 4 |" in report_md
    assert "- CVE-2019-1551 MEDIUM in libssl1.1 1.1.1c-r0, fixed in 1.1.1d-r2" in report_md


def test_secret_and_misconfiguration_reports_convert_to_valid_sarif(
    trivy: Trivy, trivy_fixtures: Path, sarif_schema: Path, tmp_path: Path
) -> None:
    schema = json.loads(sarif_schema.read_text())
    for name, rule in (("secrets.json", "aws-access-key-id"), ("dockerfile.json", "DS-0002")):
        out = tmp_path / name
        _gate(trivy, trivy_fixtures / name, out, ScanPolicy())
        sarif = json.loads((out / "trivy.sarif").read_text())
        jsonschema.validate(sarif, schema)
        assert rule in {r["ruleId"] for r in sarif["runs"][0]["results"]}, name


def test_expired_ignore_is_shown_in_the_report(
    trivy: Trivy, trivy_fixtures: Path, tmp_path: Path
) -> None:
    policy = ScanPolicy.model_validate(
        {"ignore": [{"id": "aws-access-key-id", "justification": "old", "expires": "2025-12-31"}]}
    )
    out = tmp_path / "out"
    verdict = _gate(trivy, trivy_fixtures / "secrets.json", out, policy)
    assert not verdict.passed
    text = (out / "report.md").read_text()
    assert "**EXPIRED IGNORE aws-access-key-id (expired 2025-12-31)" in text
