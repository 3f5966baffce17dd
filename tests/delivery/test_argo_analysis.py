"""An AnalysisRun as Argo writes it, read back as lockgate's analysis records conditions."""

from __future__ import annotations

from lockgate.delivery.rollout.argo_analysis import measured, run_conditions
from lockgate.delivery.rollout.conditions import parse_condition


def run(*results: dict[str, object]) -> dict[str, object]:
    return {"kind": "AnalysisRun", "status": {"phase": "Failed", "metricResults": list(results)}}


def result(name: str, phase: str, value: str) -> dict[str, object]:
    return {"name": name, "phase": phase, "measurements": [{"phase": phase, "value": value}]}


def test_each_metric_becomes_a_condition_with_its_value_and_verdict() -> None:
    conditions = [parse_condition("error_rate < 0.01"), parse_condition("p95_ms < 200")]
    found = run_conditions(
        run(
            result("requests", "Successful", "[41]"),
            result("error-rate", "Failed", "[0.3]"),
            result("p95-ms", "Inconclusive", "[]"),
            result("unrelated", "Successful", "[1]"),
        ),
        conditions,
        20,
    )
    assert found == [
        {"condition": "requests >= 20", "observed": 41.0, "outcome": "pass"},
        {"condition": "error_rate < 0.01", "observed": 0.3, "outcome": "fail"},
        {"condition": "p95_ms < 200", "observed": None, "outcome": "inconclusive"},
    ]


def test_only_one_finite_number_is_a_value() -> None:
    assert measured("[0.002]") == 0.002 and measured("12.5") == 12.5
    assert [measured(t) for t in ("[]", "[1,2]", "[NaN]", "", None, "[x]")] == [None] * 6
