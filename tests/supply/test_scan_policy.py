"""The scan gate's decisions on trivy's golden reports."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from lockgate.supply.scan_policy import ScanPolicy, evaluate
from lockgate.supply.trivy_report import load_report

TODAY = date(2026, 6, 1)


def test_default_policy_fails_only_on_critical(trivy_fixtures: Path) -> None:
    pip = load_report(trivy_fixtures / "pip.json").findings
    verdict = evaluate(pip, ScanPolicy(), TODAY)
    assert verdict.passed
    assert verdict.counts["HIGH"] == 1 and verdict.counts["MEDIUM"] == 1
    secrets = evaluate(load_report(trivy_fixtures / "secrets.json").findings, ScanPolicy(), TODAY)
    assert not secrets.passed
    assert [f.id for f in secrets.deciding] == ["aws-access-key-id"]
    assert secrets.failure_lines() == ["scan: secret aws-access-key-id CRITICAL in deploy.sh:3"]


def test_fail_on_high_catches_the_werkzeug_cve(trivy_fixtures: Path) -> None:
    findings = load_report(trivy_fixtures / "pip.json").findings
    verdict = evaluate(findings, ScanPolicy(fail_on=["CRITICAL", "HIGH"]), TODAY)
    assert not verdict.passed
    assert [(f.id, f.package) for f in verdict.deciding] == [("CVE-2019-14806", "Werkzeug")]


def test_misconfiguration_fails_a_high_gate(trivy_fixtures: Path) -> None:
    findings = load_report(trivy_fixtures / "dockerfile.json").findings
    verdict = evaluate(findings, ScanPolicy(fail_on=["HIGH"]), TODAY)
    assert [f.id for f in verdict.deciding] == ["DS-0002"]


def test_live_ignore_entry_hides_the_finding_with_its_reason(trivy_fixtures: Path) -> None:
    findings = load_report(trivy_fixtures / "secrets.json").findings
    policy = ScanPolicy.model_validate(
        {
            "ignore": [
                {
                    "id": "aws-access-key-id",
                    "justification": "test fixture key",
                    "expires": "2026-06-01",
                }
            ]
        }
    )
    verdict = evaluate(findings, policy, TODAY)
    assert verdict.passed
    assert [(i.finding.id, i.reason) for i in verdict.ignored] == [
        ("aws-access-key-id", "ignored until 2026-06-01: test fixture key")
    ]
    assert verdict.counts["CRITICAL"] == 0 and verdict.expired_ignores == ()


def test_expired_ignore_entry_stops_ignoring_and_says_so(trivy_fixtures: Path) -> None:
    findings = load_report(trivy_fixtures / "secrets.json").findings
    policy = ScanPolicy.model_validate(
        {
            "ignore": [
                {
                    "id": "aws-access-key-id",
                    "justification": "rotated soon",
                    "expires": "2026-05-31",
                }
            ]
        }
    )
    verdict = evaluate(findings, policy, TODAY)
    assert not verdict.passed
    assert [f.id for f in verdict.deciding] == ["aws-access-key-id"]
    (expired,) = verdict.expired_ignores
    assert expired.warning() == (
        "EXPIRED IGNORE aws-access-key-id (expired 2026-05-31): 1 finding(s) count again; "
        "renew or remove it"
    )


def test_ignore_entry_for_another_package_does_not_apply(trivy_fixtures: Path) -> None:
    findings = load_report(trivy_fixtures / "alpine-310.json").findings
    policy = ScanPolicy.model_validate(
        {
            "fail_on": ["MEDIUM"],
            "ignore": [
                {
                    "id": "CVE-2019-1549",
                    "package": "libssl1.1",
                    "justification": "x",
                    "expires": "2027-01-01",
                }
            ],
        }
    )
    verdict = evaluate(findings, policy, TODAY)
    assert [(i.finding.id, i.finding.package) for i in verdict.ignored] == [
        ("CVE-2019-1549", "libssl1.1")
    ]
    assert [(f.id, f.package) for f in verdict.deciding] == [
        ("CVE-2019-1549", "libcrypto1.1"),
        ("CVE-2019-1551", "libcrypto1.1"),
        ("CVE-2019-1551", "libssl1.1"),
    ]


def test_ignore_unfixed_drops_only_vulnerabilities_without_a_fix(trivy_fixtures: Path) -> None:
    findings = load_report(trivy_fixtures / "debian-stretch.json").findings
    low = ScanPolicy(fail_on=["LOW"], ignore_unfixed=True)
    verdict = evaluate(findings, low, TODAY)
    assert [(i.finding.package, i.reason) for i in verdict.ignored] == [
        ("bash", "no fixed version (ignore_unfixed)")
    ]
    assert verdict.passed and verdict.counts["MEDIUM"] == 4
    assert not evaluate(findings, ScanPolicy(fail_on=["LOW"]), TODAY).passed


def test_policy_rejects_unknown_fields_and_entries_without_justification() -> None:
    with pytest.raises(ValidationError, match="extra"):
        ScanPolicy.model_validate({"fail_on": ["HIGH"], "fail_on_severity": ["LOW"]})
    with pytest.raises(ValidationError, match="justification"):
        ScanPolicy.model_validate({"ignore": [{"id": "CVE-1", "expires": "2027-01-01"}]})
    with pytest.raises(ValidationError, match="fail_on"):
        ScanPolicy.model_validate({"fail_on": ["SEVERE"]})
