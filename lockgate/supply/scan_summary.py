"""``report.md`` and ``metrics.json`` for the scan stage: counts by severity, then the findings
that decided the verdict, then what was ignored and why."""

from __future__ import annotations

from lockgate.supply.scan_verdict import ScanVerdict
from lockgate.supply.trivy_report import SEVERITIES


def render_markdown(verdict: ScanVerdict, image: str) -> str:
    status = "passed" if verdict.passed else "FAILED"
    lines = [
        f"## Image scan {status}",
        "",
        f"Image: `{image}`  ",
        f"Fails on: {', '.join(verdict.fail_on) or 'nothing'}",
        "",
        "| severity | findings |",
        "| --- | ---: |",
    ]
    lines += [f"| {sev} | {verdict.counts.get(sev, 0)} |" for sev in reversed(SEVERITIES)]
    if verdict.expired_ignores:
        lines += ["", "### Expired ignore entries", ""]
        lines += [f"- **{e.warning()}** ({e.justification})" for e in verdict.expired_ignores]
    if verdict.deciding:
        lines += ["", "### Findings that fail the gate", ""]
        lines += [f"- {f.describe()}" for f in verdict.deciding]
    if verdict.ignored:
        lines += ["", "### Ignored", ""]
        lines += [f"- {i.finding.describe()}: {i.reason}" for i in verdict.ignored]
    return "\n".join(lines) + "\n"


def metrics(verdict: ScanVerdict) -> dict[str, int | str]:
    out: dict[str, int | str] = {
        f"scan_{sev.lower()}": verdict.counts.get(sev, 0) for sev in SEVERITIES
    }
    out["scan_ignored"] = len(verdict.ignored)
    out["scan_expired_ignores"] = len(verdict.expired_ignores)
    out["scan_verdict"] = "passed" if verdict.passed else "failed"
    return out
