"""The scan gate's policy (from ``with:``) and its evaluation into a :class:`ScanVerdict`.

Order of decisions for each finding: a VEX statement that says ``not_affected``/``fixed``
suppresses it; a live ignore entry (matching id, and package when given) suppresses it; an
expired ignore entry does *not*, and the verdict lists it so the stage can say so loudly;
``ignore_unfixed`` suppresses vulnerabilities with no fixed version. Whatever is left counts,
and the gate fails when any of it has a severity in ``fail_on``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Literal

from pydantic import Field

from lockgate.spec.base import FrozenModel
from lockgate.supply.scan_verdict import ExpiredIgnore, IgnoredFinding, ScanVerdict
from lockgate.supply.trivy_report import SEVERITIES, Finding
from lockgate.supply.vex import VexStatement, vex_reason

Severity = Literal["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
UNFIXED_STATUSES = {"affected", "will_not_fix", "fix_deferred", "end_of_life"}


class IgnoreEntry(FrozenModel):
    """One accepted finding: why, and until when."""

    id: str = Field(min_length=1, description="CVE/GHSA id, secret rule id or check id")
    justification: str = Field(min_length=1, description="why this finding is accepted")
    expires: date = Field(description="last day the entry applies (YYYY-MM-DD)")
    package: str | None = Field(default=None, description="only for this package name")

    def matches(self, finding: Finding) -> bool:
        return finding.id == self.id and (self.package is None or self.package == finding.package)

    def expired(self, today: date) -> bool:
        return today > self.expires


class ScanPolicy(FrozenModel):
    fail_on: list[Severity] = Field(default_factory=lambda: list[Severity](["CRITICAL"]))
    ignore: list[IgnoreEntry] = Field(default_factory=list)
    vex: list[str] = Field(default_factory=list, description="OpenVEX files (workspace paths)")
    ignore_unfixed: bool = False


def _is_unfixed(finding: Finding) -> bool:
    return finding.kind == "vulnerability" and (
        not finding.fixed or finding.status in UNFIXED_STATUSES
    )


def evaluate(
    findings: Iterable[Finding],
    policy: ScanPolicy,
    today: date,
    vex: Sequence[VexStatement] = (),
    artifact: str = "",
) -> ScanVerdict:
    live = [entry for entry in policy.ignore if not entry.expired(today)]
    expired = [entry for entry in policy.ignore if entry.expired(today)]
    expired_hits = {entry.id: 0 for entry in expired}
    effective: list[Finding] = []
    ignored: list[IgnoredFinding] = []
    for finding in findings:
        reason, until = vex_reason(vex, finding), ""
        if reason is None:
            entry = next((e for e in live if e.matches(finding)), None)
            if entry is not None:
                reason = f"ignored until {entry.expires}: {entry.justification}"
                until = entry.expires.isoformat()
        if reason is None and policy.ignore_unfixed and _is_unfixed(finding):
            reason = "no fixed version (ignore_unfixed)"
        if reason is not None:
            ignored.append(IgnoredFinding(finding, reason, until))
            continue
        for entry in expired:
            if entry.matches(finding):
                expired_hits[entry.id] += 1
        effective.append(finding)
    counts = {sev: 0 for sev in SEVERITIES}
    for finding in effective:
        counts[finding.severity] += 1
    deciding = tuple(f for f in effective if f.severity in policy.fail_on)
    return ScanVerdict(
        passed=not deciding,
        fail_on=tuple(policy.fail_on),
        counts=counts,
        deciding=deciding,
        ignored=tuple(ignored),
        expired_ignores=tuple(
            ExpiredIgnore(e.id, e.expires.isoformat(), e.justification, expired_hits[e.id])
            for e in expired
        ),
        findings=tuple(effective),
        artifact=artifact,
    )
