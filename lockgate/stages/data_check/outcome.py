"""What a data check found, as plain records; the exit code is computed from these."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Verdict = Literal["pass", "fail", "skipped", "flag", "report"]


@dataclass(frozen=True)
class CheckResult:
    """One check: ``value`` compared with ``threshold``. ``flag`` and ``report`` never fail."""

    name: str
    column: str | None
    value: Any
    threshold: Any
    verdict: Verdict
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.verdict == "fail"

    def line(self) -> str:
        where = f"[{self.column}]" if self.column else ""
        value, threshold = _short(self.value), _short(self.threshold)
        text = f"FAIL {self.name}{where}: value {value}, threshold {threshold}"
        return f"{text} ({self.detail})" if self.detail else text

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column against the reference, with metrics and their thresholds."""

    column: str
    kind: Literal["numeric", "categorical"]
    metrics: dict[str, float]
    thresholds: dict[str, float]
    reported: dict[str, float] = field(default_factory=dict)
    new_categories: tuple[str, ...] = ()
    reference_hist: tuple[float, ...] = ()
    current_hist: tuple[float, ...] = ()
    bin_labels: tuple[str, ...] = ()

    @property
    def drifted(self) -> bool:
        return any(self.metrics.get(m, 0.0) > t for m, t in self.thresholds.items())

    def as_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "metrics": self.metrics,
            "thresholds": self.thresholds,
            "reported": self.reported,
            "new_categories": list(self.new_categories),
            "drifted": self.drifted,
        }


@dataclass(frozen=True)
class DataCheckOutcome:
    """Everything a run decided; written to data-check.json."""

    data: str
    files: tuple[str, ...]
    rows: int | None
    checks: tuple[CheckResult, ...]
    drift: tuple[ColumnDrift, ...] = ()
    pii_detected: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.failed)

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "data": self.data,
            "files": list(self.files),
            "rows": self.rows,
            "checks": [c.as_json() for c in self.checks],
            "drift": {d.column: d.as_json() for d in self.drift},
            "drifted_columns": [d.column for d in self.drift if d.drifted],
            "pii_detected": list(self.pii_detected),
            "notes": list(self.notes),
        }


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
