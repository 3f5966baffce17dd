"""The scan-policy requirement of ``lockgate verify``: every genuine scan verdict for the digest
is about this image, agrees with its own findings, and satisfies the verify policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from lockgate.supply.binding import verdict_problem
from lockgate.supply.scan_verdict import ScanVerdict
from lockgate.supply.verify_policy import VerifyPolicy


@dataclass(frozen=True)
class Requirement:
    name: str
    passed: bool
    reason: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.reason}"


def check_scans(
    found: list[Mapping[str, Any]], digest: str, policy: VerifyPolicy, today: date
) -> Requirement:
    """Every genuine scan verdict for the digest must satisfy the policy: the first that does
    not decides, whatever the order the registry lists them in."""
    results = [check_scan(s.get("predicate", {}), digest, policy, today) for s in found]
    failed = [r for r in results if not r.passed]
    if not failed:
        return results[-1]
    if len(found) == 1:
        return failed[0]
    return Requirement(
        "scan policy",
        False,
        f"{len(failed)} of {len(found)} signed scan verdicts for this digest fail: "
        f"{failed[0].reason}",
    )


def check_scan(predicate: object, digest: str, policy: VerifyPolicy, today: date) -> Requirement:
    problem = verdict_problem(predicate, digest)
    if problem is not None:
        return Requirement("scan policy", False, f"the signed scan verdict is refused: {problem}")
    assert isinstance(predicate, Mapping)
    try:
        verdict = ScanVerdict.from_json(predicate)
        lapsed = [
            i
            for i in verdict.ignored
            if i.lapsed(today) and i.finding.severity in policy.scan.fail_on
        ]
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        return Requirement("scan policy", False, f"unreadable scan verdict: {exc}")
    if policy.scan.require_passed and not verdict.passed:
        first = verdict.deciding[0].describe() if verdict.deciding else "see the scan report"
        return Requirement("scan policy", False, f"scan verdict failed: {first}")
    if lapsed:
        gone = lapsed[0]
        return Requirement(
            "scan policy",
            False,
            f"ignore entry for {gone.finding.id} expired on {gone.expires}: "
            f"{gone.finding.describe()} counts again",
        )
    over: dict[str, int] = {}
    for finding in verdict.findings:  # the findings decide, not the counts beside them
        if finding.severity in policy.scan.fail_on:
            over[finding.severity] = over.get(finding.severity, 0) + 1
    if over:
        counts = ", ".join(f"{over[sev]} {sev}" for sev in policy.scan.fail_on if sev in over)
        return Requirement(
            "scan policy",
            False,
            f"scan found {counts} (policy fails on {', '.join(policy.scan.fail_on)})",
        )
    return Requirement(
        "scan policy", True, f"scan passed with no {'/'.join(policy.scan.fail_on)} findings"
    )
