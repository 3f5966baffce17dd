"""GitLab container-scanning report (security report schema 15.x) from trivy's JSON.

GitLab's schema is not shipped with lockgate; :func:`schema_problems` checks the fields that
schema 15.0.x requires (see docs/supply-chain.md for the list and its source). Only
vulnerabilities belong in this report type: secrets and misconfigurations go to SARIF and the
scan verdict.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lockgate.supply.trivy_report import TrivyReport

SCHEMA_VERSION = "15.0.7"
_NAMESPACE = uuid.UUID("6f1b0d1e-9a51-4c3e-9a0c-6c6f636b6761")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
_SEVERITY = {
    "CRITICAL": "Critical",
    "HIGH": "High",
    "MEDIUM": "Medium",
    "LOW": "Low",
    "UNKNOWN": "Unknown",
}
GITLAB_SEVERITIES = {"Info", "Unknown", "Low", "Medium", "High", "Critical"}


def _tool(version: str) -> dict[str, Any]:
    return {
        "id": "trivy",
        "name": "Trivy",
        "vendor": {"name": "Aqua Security"},
        "version": version or "unknown",
    }


def _identifier(vuln_id: str, url: str) -> dict[str, str]:
    kind = vuln_id.split("-", 1)[0].lower() if "-" in vuln_id else "trivy"
    ident = {"type": kind, "name": vuln_id, "value": vuln_id}
    if url:
        ident["url"] = url
    return ident


def container_scanning_report(
    report: TrivyReport, image: str, started: datetime, finished: datetime
) -> dict[str, Any]:
    vulnerabilities = []
    for result in report.raw.get("Results") or []:
        for v in result.get("Vulnerabilities") or []:
            pkg, version = v.get("PkgName", ""), v.get("InstalledVersion", "")
            key = f"{v['VulnerabilityID']}|{pkg}|{version}|{result.get('Target', '')}"
            entry: dict[str, Any] = {
                "id": str(uuid.uuid5(_NAMESPACE, key)),
                "name": (v.get("Title") or v["VulnerabilityID"])[:255],
                "description": (v.get("Description") or "")[:1048576],
                "severity": _SEVERITY.get(str(v.get("Severity", "")).upper(), "Unknown"),
                "location": {
                    "dependency": {"package": {"name": pkg}, "version": version},
                    "operating_system": report.os or "Unknown",
                    "image": image,
                },
                "identifiers": [_identifier(v["VulnerabilityID"], v.get("PrimaryURL", ""))],
                "links": [{"url": u} for u in (v.get("References") or [])[:20]],
            }
            if v.get("FixedVersion"):
                entry["solution"] = f"Upgrade {pkg} to {v['FixedVersion']}"
            vulnerabilities.append(entry)
    stamp = "%Y-%m-%dT%H:%M:%S"
    return {
        "version": SCHEMA_VERSION,
        "scan": {
            "analyzer": _tool(report.trivy_version),
            "scanner": {
                **_tool(report.trivy_version),
                "url": "https://github.com/aquasecurity/trivy/",
            },
            "type": "container_scanning",
            "start_time": started.strftime(stamp),
            "end_time": finished.strftime(stamp),
            "status": "success",
        },
        "vulnerabilities": vulnerabilities,
    }


def _missing(obj: Mapping[str, Any], fields: tuple[str, ...], where: str) -> list[str]:
    return [f"{where}.{f} is required" for f in fields if f not in obj]


def schema_problems(doc: Mapping[str, Any]) -> list[str]:
    """The ways ``doc`` breaks the required structure of container-scanning schema 15.x."""
    problems = _missing(doc, ("version", "scan", "vulnerabilities"), "$")
    if not re.match(r"^15\.\d+\.\d+$", str(doc.get("version", ""))):
        problems.append("$.version must be 15.x.y")
    scan = doc.get("scan") or {}
    problems += _missing(
        scan, ("analyzer", "scanner", "type", "start_time", "end_time", "status"), "$.scan"
    )
    for part in ("analyzer", "scanner"):
        tool = scan.get(part) or {}
        problems += _missing(tool, ("id", "name", "version", "vendor"), f"$.scan.{part}")
        if "name" not in (tool.get("vendor") or {}):
            problems.append(f"$.scan.{part}.vendor.name is required")
    if scan.get("type") != "container_scanning":
        problems.append("$.scan.type must be container_scanning")
    if scan.get("status") not in ("success", "failure"):
        problems.append("$.scan.status must be success or failure")
    for key in ("start_time", "end_time"):
        if not _TIME.match(str(scan.get(key, ""))):
            problems.append(f"$.scan.{key} must be YYYY-MM-DDTHH:MM:SS")
    for i, vuln in enumerate(doc.get("vulnerabilities") or []):
        where = f"$.vulnerabilities[{i}]"
        problems += _missing(vuln, ("id", "identifiers", "location"), where)
        if not str(vuln.get("id", "")):
            problems.append(f"{where}.id must not be empty")
        if "severity" in vuln and vuln["severity"] not in GITLAB_SEVERITIES:
            problems.append(f"{where}.severity {vuln['severity']!r} is not a GitLab severity")
        idents = vuln.get("identifiers") or []
        if not idents:
            problems.append(f"{where}.identifiers needs at least one entry")
        for j, ident in enumerate(idents):
            problems += _missing(ident, ("type", "name", "value"), f"{where}.identifiers[{j}]")
        loc = vuln.get("location") or {}
        problems += _missing(loc, ("dependency", "operating_system", "image"), f"{where}.location")
        dep = loc.get("dependency") or {}
        if "name" not in (dep.get("package") or {}):
            problems.append(f"{where}.location.dependency.package.name is required")
    return problems
