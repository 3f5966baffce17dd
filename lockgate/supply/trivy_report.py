"""Read trivy's JSON report into typed findings (vulnerabilities, secrets, misconfigurations,
licenses). Only failed misconfiguration checks are findings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from lockgate.errors import LockgateError

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
Kind = Literal["vulnerability", "secret", "misconfiguration", "license"]


class TrivyReportError(LockgateError):
    """A trivy report that is missing or not trivy's JSON."""


@dataclass(frozen=True)
class Finding:
    kind: Kind
    id: str
    severity: str
    target: str
    package: str = ""
    installed: str = ""
    fixed: str = ""
    status: str = ""
    title: str = ""
    line: int = 0
    purl: str = ""

    def describe(self) -> str:
        """One line a reviewer can act on."""
        where = self.target
        if self.kind == "vulnerability":
            fix = f", fixed in {self.fixed}" if self.fixed else ", no fix yet"
            return f"{self.id} {self.severity} in {self.package} {self.installed}{fix} ({where})"
        if self.kind == "secret":
            return f"secret {self.id} {self.severity} in {where}:{self.line}"
        if self.kind == "misconfiguration":
            return f"misconfiguration {self.id} {self.severity} in {where}: {self.title}"
        return f"license {self.id} {self.severity} in {self.package} ({where})"

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in ("", 0)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Finding:
        return cls(**doc)


@dataclass(frozen=True)
class TrivyReport:
    artifact: str
    artifact_type: str
    os: str
    trivy_version: str
    findings: tuple[Finding, ...]
    raw: Mapping[str, Any]


def _severity(value: object) -> str:
    text = str(value or "UNKNOWN").upper()
    return text if text in SEVERITIES else "UNKNOWN"


def _result_findings(result: Mapping[str, Any]) -> list[Finding]:
    target = str(result.get("Target", ""))
    found: list[Finding] = []
    for v in result.get("Vulnerabilities") or []:
        found.append(
            Finding(
                "vulnerability",
                v["VulnerabilityID"],
                _severity(v.get("Severity")),
                target,
                package=v.get("PkgName", ""),
                installed=v.get("InstalledVersion", ""),
                fixed=v.get("FixedVersion", ""),
                status=v.get("Status", ""),
                title=v.get("Title", ""),
                purl=(v.get("PkgIdentifier") or {}).get("PURL", ""),
            )
        )
    for s in result.get("Secrets") or []:
        found.append(
            Finding(
                "secret",
                s["RuleID"],
                _severity(s.get("Severity")),
                target,
                title=s.get("Title", ""),
                line=int(s.get("StartLine") or 0),
            )
        )
    for m in result.get("Misconfigurations") or []:
        if m.get("Status", "FAIL") != "FAIL":
            continue
        found.append(
            Finding(
                "misconfiguration",
                m.get("ID") or m.get("AVDID", ""),
                _severity(m.get("Severity")),
                target,
                status="FAIL",
                title=m.get("Title", ""),
                line=int((m.get("CauseMetadata") or {}).get("StartLine") or 0),
            )
        )
    for lic in result.get("Licenses") or []:
        found.append(
            Finding(
                "license",
                lic.get("Name", ""),
                _severity(lic.get("Severity")),
                target,
                package=lic.get("PkgName", ""),
                title=lic.get("Category", ""),
            )
        )
    return found


def parse_report(doc: Mapping[str, Any], where: str = "trivy report") -> TrivyReport:
    if not isinstance(doc, Mapping) or doc.get("SchemaVersion") != 2:
        raise TrivyReportError(f"{where}: not a trivy JSON report (SchemaVersion 2 expected)")
    findings: list[Finding] = []
    for result in doc.get("Results") or []:
        findings.extend(_result_findings(result))
    os_info = (doc.get("Metadata") or {}).get("OS") or {}
    return TrivyReport(
        artifact=str(doc.get("ArtifactName", "")),
        artifact_type=str(doc.get("ArtifactType", "")),
        os=f"{os_info.get('Family', '')} {os_info.get('Name', '')}".strip(),
        trivy_version=str((doc.get("Trivy") or {}).get("Version", "")),
        findings=tuple(findings),
        raw=doc,
    )


def load_report(path: Path) -> TrivyReport:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise TrivyReportError(f"{path}: trivy report not found") from None
    except json.JSONDecodeError as exc:
        raise TrivyReportError(
            f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"
        ) from None
    return parse_report(doc, str(path))
