"""The scan gate's outcome as data: written to ``scan-verdict.json``, attested to the image,
and read back by ``lockgate verify``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from lockgate.supply.trivy_report import SEVERITIES, Finding

VERDICT_SCHEMA = "lockgate.scan-verdict/v1"


@dataclass(frozen=True)
class IgnoredFinding:
    finding: Finding
    reason: str
    expires: str = ""  # set when an ignore entry (not VEX) hid the finding

    def lapsed(self, today: date) -> bool:
        return bool(self.expires) and today > date.fromisoformat(self.expires)


@dataclass(frozen=True)
class ExpiredIgnore:
    id: str
    expires: str
    justification: str
    matched: int  # findings it would have hidden and no longer does

    def warning(self) -> str:
        hits = f"{self.matched} finding(s) count again" if self.matched else "matches nothing"
        return f"EXPIRED IGNORE {self.id} (expired {self.expires}): {hits}; renew or remove it"


@dataclass(frozen=True)
class ScanVerdict:
    passed: bool
    fail_on: tuple[str, ...]
    counts: Mapping[str, int]
    deciding: tuple[Finding, ...]
    ignored: tuple[IgnoredFinding, ...]
    expired_ignores: tuple[ExpiredIgnore, ...]
    findings: tuple[Finding, ...]
    artifact: str = ""

    def failure_lines(self) -> list[str]:
        return [f"scan: {f.describe()}" for f in self.deciding]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": VERDICT_SCHEMA,
            "artifact": self.artifact,
            "passed": self.passed,
            "fail_on": list(self.fail_on),
            "counts": {sev: int(self.counts.get(sev, 0)) for sev in SEVERITIES},
            "deciding": [f.to_json() for f in self.deciding],
            "ignored": [
                {"finding": i.finding.to_json(), "reason": i.reason, "expires": i.expires}
                for i in self.ignored
            ],
            "expired_ignores": [
                {
                    "id": e.id,
                    "expires": e.expires,
                    "justification": e.justification,
                    "matched": e.matched,
                }
                for e in self.expired_ignores
            ],
            "findings": [f.to_json() for f in self.findings],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ScanVerdict:
        if doc.get("schema") != VERDICT_SCHEMA:
            raise ValueError(f"not a scan verdict (schema {doc.get('schema')!r})")
        return cls(
            passed=bool(doc["passed"]),
            fail_on=tuple(doc.get("fail_on", ())),
            counts={k: int(v) for k, v in doc.get("counts", {}).items()},
            deciding=tuple(Finding.from_json(f) for f in doc.get("deciding", ())),
            ignored=tuple(
                IgnoredFinding(Finding.from_json(i["finding"]), i["reason"], i.get("expires", ""))
                for i in doc.get("ignored", ())
            ),
            expired_ignores=tuple(ExpiredIgnore(**e) for e in doc.get("expired_ignores", ())),
            findings=tuple(Finding.from_json(f) for f in doc.get("findings", ())),
            artifact=str(doc.get("artifact", "")),
        )
