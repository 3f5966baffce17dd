"""PII detection in the columns a spec declares sensitive (``columns: {email: {pii: true}}``).

Each detector is a regular expression searched in the text of every non-null value; a column
is *detected* when the fraction of values matching any detector exceeds ``pii.min_fraction``.
Detected columns are recorded as ``pii_detected`` in data-check.json, where a later residency
gate reads them; with ``pii.fail: true`` they also fail this stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lockgate.stages.data_check.compiler import ROWS, ScanPlan
from lockgate.stages.data_check.outcome import CheckResult, Verdict
from lockgate.stages.data_check.spec import DataCheckSpec

if TYPE_CHECKING:
    import polars as pl

PATTERNS: dict[str, str] = {
    # local@domain.tld
    "email": r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}",
    # +CC and 7-14 digits, or (NNN) NNN-NNNN / NNN-NNN-NNNN / NNN.NNN.NNNN
    "phone": (
        r"(?:\+\d{1,3}[\s.\-]?\d(?:[\s.\-]?\d){6,13})"
        r"|(?:\(?\b\d{3}\)?[\s.\-]\d{3}[\s.\-]\d{4}\b)"
    ),
    # US SSN: AAA-GG-SSSS, area not 000/666/9xx, group not 00, serial not 0000
    "ssn": (
        r"\b(?:00[1-9]|0[1-9]\d|[1-578]\d\d|6[0-57-9]\d|66[0-57-9])"
        r"-(?:0[1-9]|[1-9]\d)"
        r"-(?:000[1-9]|00[1-9]\d|0[1-9]\d\d|[1-9]\d{3})\b"
    ),
    # IBAN-like: country code, 2 check digits, 11-30 alphanumerics (spaces allowed in groups of 4)
    "iban": r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b",
}


@dataclass(frozen=True)
class PiiProbe:
    column: str
    detector: str
    key: str


def plan_pii(
    spec: DataCheckSpec, schema: Mapping[str, pl.DataType], plan: ScanPlan
) -> list[PiiProbe]:
    import polars as pl

    probes = []
    plan.rows()
    for column in spec.pii_columns:
        if column not in schema:
            continue
        text = pl.col(column).cast(pl.String)
        for detector in spec.pii.detectors:
            hits = text.str.contains(PATTERNS[detector]).fill_null(False).sum()
            probes.append(PiiProbe(column, detector, plan.add(hits, "sum", "pii")))
    return probes


def judge_pii(
    spec: DataCheckSpec, probes: list[PiiProbe], row: Mapping[str, Any]
) -> tuple[list[CheckResult], tuple[str, ...]]:
    """One ``pii`` result per (column, detector); and the columns where PII was found."""
    rows = max(int(row[ROWS]), 1)
    results, detected = [], []
    for probe in probes:
        fraction = int(row[probe.key]) / rows
        found = fraction > spec.pii.min_fraction
        verdict: Verdict = ("fail" if spec.pii.fail else "flag") if found else "pass"
        results.append(
            CheckResult(
                f"pii_{probe.detector}",
                probe.column,
                fraction,
                spec.pii.min_fraction,
                verdict,
                f"{row[probe.key]} values look like {probe.detector}" if found else "",
            )
        )
        if found and probe.column not in detected:
            detected.append(probe.column)
    return results, tuple(detected)
