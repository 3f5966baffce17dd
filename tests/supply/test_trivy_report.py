"""trivy's own golden reports, read finding by finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.supply.trivy_report import Finding, TrivyReportError, load_report, parse_report


def test_alpine_vulnerabilities_are_read_one_by_one(trivy_fixtures: Path) -> None:
    report = load_report(trivy_fixtures / "alpine-310.json")
    assert report.artifact_type == "container_image"
    assert report.os == "alpine 3.10.2"
    assert [(f.id, f.package, f.installed, f.fixed, f.severity) for f in report.findings] == [
        ("CVE-2019-1549", "libcrypto1.1", "1.1.1c-r0", "1.1.1d-r0", "MEDIUM"),
        ("CVE-2019-1551", "libcrypto1.1", "1.1.1c-r0", "1.1.1d-r2", "MEDIUM"),
        ("CVE-2019-1549", "libssl1.1", "1.1.1c-r0", "1.1.1d-r0", "MEDIUM"),
        ("CVE-2019-1551", "libssl1.1", "1.1.1c-r0", "1.1.1d-r2", "MEDIUM"),
    ]
    assert {f.kind for f in report.findings} == {"vulnerability"}
    assert report.findings[0].purl.startswith("pkg:apk/alpine/libcrypto1.1@1.1.1c-r0")


def test_debian_unfixed_vulnerability_keeps_its_status(trivy_fixtures: Path) -> None:
    report = load_report(trivy_fixtures / "debian-stretch.json")
    bash = next(f for f in report.findings if f.package == "bash")
    assert (bash.id, bash.severity, bash.fixed, bash.status) == (
        "CVE-2019-18276",
        "LOW",
        "",
        "end_of_life",
    )
    assert sorted(f.package for f in report.findings if f.id == "CVE-2019-5094") == [
        "e2fslibs",
        "e2fsprogs",
        "libcomerr2",
        "libss2",
    ]


def test_language_package_vulnerabilities(trivy_fixtures: Path) -> None:
    report = load_report(trivy_fixtures / "pip.json")
    assert [(f.id, f.package, f.severity, f.target) for f in report.findings] == [
        ("CVE-2019-14806", "Werkzeug", "HIGH", "requirements.txt"),
        ("CVE-2020-28724", "Werkzeug", "MEDIUM", "requirements.txt"),
    ]


def test_secrets_have_rule_severity_and_line(trivy_fixtures: Path) -> None:
    report = load_report(trivy_fixtures / "secrets.json")
    assert [(f.kind, f.id, f.severity, f.target, f.line) for f in report.findings] == [
        ("secret", "aws-access-key-id", "CRITICAL", "deploy.sh", 3),
        ("secret", "mysecret", "HIGH", "deploy.sh", 7),
    ]
    assert report.findings[0].describe() == "secret aws-access-key-id CRITICAL in deploy.sh:3"


def test_failed_misconfiguration_is_a_finding(trivy_fixtures: Path) -> None:
    report = load_report(trivy_fixtures / "dockerfile.json")
    assert report.findings == (
        Finding(
            "misconfiguration",
            "DS-0002",
            "HIGH",
            "Dockerfile",
            status="FAIL",
            title="Image user should not be 'root'",
        ),
    )


def test_passed_misconfiguration_checks_are_not_findings(trivy_fixtures: Path) -> None:
    doc = json.loads((trivy_fixtures / "dockerfile.json").read_text())
    doc["Results"][0]["Misconfigurations"][0]["Status"] = "PASS"
    assert parse_report(doc).findings == ()


def test_finding_round_trips_through_json(trivy_fixtures: Path) -> None:
    for finding in load_report(trivy_fixtures / "debian-stretch.json").findings:
        assert Finding.from_json(finding.to_json()) == finding


def test_not_a_trivy_report_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "r.json"
    bad.write_text('{"runs": []}')
    with pytest.raises(TrivyReportError, match=r"r\.json: not a trivy JSON report"):
        load_report(bad)
    bad.write_text("{")
    with pytest.raises(TrivyReportError, match=r"r\.json:1:2: invalid JSON"):
        load_report(bad)
