"""PII found in declared-sensitive columns is recorded; ``pii.fail`` turns it into a gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lockgate.stages.data_check.check import DataCheck
from lockgate.stages.data_check.outcome import DataCheckOutcome
from lockgate.stages.data_check.spec import parse_spec
from lockgate.stages.data_check.watermark import WatermarkStore
from tests.stages.data_check.conftest import NOW, context


def _frame() -> Any:
    import polars as pl

    clean = ["order shipped", "blue", "n/a", "42", "2025-01-01", "ok"] * 100
    return pl.DataFrame(
        {
            "note": [
                *clean[:-4],
                "call me at (555) 123-4567",
                "mail jo@corp.example.org",
                "ssn 123-45-6789",
                "pay to DE89 3704 0044 0532 0130 00",
            ],
            "clean_note": clean,
            "contact": ["+44 20 7946 0958"] * 600,
            "free": ["x@y.zz"] * 600,  # not declared sensitive: never scanned
        }
    )


def _run(workspace: Path, pii: dict[str, Any] | None = None) -> DataCheckOutcome:
    _frame().write_parquet(workspace / "data" / "notes.parquet")
    with_: dict[str, Any] = {
        "data": "data/notes.parquet",
        "columns": {"note": {"pii": True}, "clean_note": {"pii": True}, "contact": {"pii": True}},
    }
    if pii is not None:
        with_["pii"] = pii
    ctx = context(workspace, with_)
    return DataCheck(
        parse_spec(with_), ctx.resolve, WatermarkStore.for_stage(ctx.state, ctx.stage), NOW
    ).run()


def test_each_detector_finds_its_kind(workspace: Path) -> None:
    outcome = _run(workspace)
    assert outcome.passed  # recorded for the residency gate, not failed here
    assert outcome.pii_detected == ("note", "contact")
    found = {(c.name, c.column) for c in outcome.checks if c.verdict == "flag"}
    assert found == {
        ("pii_email", "note"),
        ("pii_phone", "note"),
        ("pii_ssn", "note"),
        ("pii_iban", "note"),
        ("pii_phone", "contact"),
    }


def test_min_fraction_and_fail(workspace: Path) -> None:
    outcome = _run(workspace, {"min_fraction": 0.01, "fail": True})
    assert outcome.pii_detected == ("contact",)
    assert {(c.name, c.column) for c in outcome.failures} == {("pii_phone", "contact")}


def test_detectors_can_be_narrowed(workspace: Path) -> None:
    outcome = _run(workspace, {"detectors": ["ssn"]})
    assert outcome.pii_detected == ("note",)
    assert {c.name for c in outcome.checks if c.name.startswith("pii_")} == {"pii_ssn"}


@pytest.mark.parametrize("value", ["000-12-3456", "666-12-3456", "123-00-4567", "12-345-6789"])
def test_invalid_ssns_are_not_flagged(value: str) -> None:
    import polars as pl

    from lockgate.stages.data_check.pii import PATTERNS

    assert not pl.Series([value]).str.contains(PATTERNS["ssn"]).item()
