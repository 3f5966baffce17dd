"""OpenVEX statements applied to trivy's gomod VEX golden report."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from lockgate.supply.scan_policy import ScanPolicy, evaluate
from lockgate.supply.trivy_report import load_report
from lockgate.supply.vex import VexError, load_openvex


def _openvex(path: Path, statements: list[dict[str, object]]) -> Path:
    path.write_text(
        json.dumps(
            {
                "@context": "https://openvex.dev/ns/v0.2.0",
                "@id": "urn:lockgate:test",
                "author": "tests",
                "timestamp": "2026-01-01T00:00:00Z",
                "version": 1,
                "statements": statements,
            }
        )
    )
    return path


def test_not_affected_statement_suppresses_matching_package_only(
    trivy_fixtures: Path, tmp_path: Path
) -> None:
    vex = load_openvex(
        _openvex(
            tmp_path / "vex.json",
            [
                {
                    "vulnerability": {"name": "GMS-2022-20"},
                    "products": [
                        {"@id": "pkg:golang/github.com/docker/distribution@v2.7.1+incompatible"}
                    ],
                    "status": "not_affected",
                    "justification": "vulnerable_code_not_in_execute_path",
                },
                {
                    "vulnerability": {"name": "CVE-2021-38561"},
                    "products": [{"@id": "pkg:golang/golang.org/x/text@v0.3.6"}],
                    "status": "under_investigation",
                },
            ],
        )
    )
    findings = load_report(trivy_fixtures / "gomod-vex.json").findings
    verdict = evaluate(findings, ScanPolicy(fail_on=["UNKNOWN"]), date(2026, 1, 2), vex)
    assert [(i.finding.id, i.finding.target) for i in verdict.ignored] == [
        ("GMS-2022-20", "go.mod"),
        ("GMS-2022-20", "submod/go.mod"),
        ("GMS-2022-20", "submod2/go.mod"),
    ]
    assert {i.reason for i in verdict.ignored} == {
        "VEX not_affected (vulnerable_code_not_in_execute_path) in vex.json"
    }
    assert [(f.id, f.package) for f in verdict.deciding] == [
        ("CVE-2021-38561", "golang.org/x/text")
    ]


def test_statement_for_another_version_does_not_apply(trivy_fixtures: Path, tmp_path: Path) -> None:
    vex = load_openvex(
        _openvex(
            tmp_path / "vex.json",
            [
                {
                    "vulnerability": {"name": "CVE-2021-38561"},
                    "products": [{"@id": "pkg:golang/golang.org/x/text@v0.3.7"}],
                    "status": "not_affected",
                    "justification": "component_not_present",
                }
            ],
        )
    )
    findings = load_report(trivy_fixtures / "gomod-vex.json").findings
    verdict = evaluate(findings, ScanPolicy(fail_on=["UNKNOWN"]), date(2026, 1, 2), vex)
    assert verdict.ignored == () and len(verdict.deciding) == 4


def test_non_openvex_document_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cdx.json"
    path.write_text('{"bomFormat": "CycloneDX"}')
    with pytest.raises(VexError, match="not an OpenVEX document"):
        load_openvex(path)
