from __future__ import annotations

from lockgate.stages.evaluate.gate import decide
from lockgate.stages.evaluate.thresholds import parse_thresholds

THRESHOLDS = parse_thresholds({"accuracy": ">= 0.9", "loss": "<= 0.5"})


def test_first_model_is_judged_on_thresholds_alone() -> None:
    decision = decide({"accuracy": 0.95, "loss": 0.2}, THRESHOLDS, None, None, {"accuracy": 0})
    assert decision.passed
    assert "No champion registered yet" in decision.note
    assert [c.name for c in decision.checks] == ["threshold accuracy", "threshold loss"]


def test_a_later_model_without_champion_is_not_called_the_first() -> None:
    decision = decide(
        {"accuracy": 0.95, "loss": 0.2}, THRESHOLDS, None, None, {}, earlier_versions=1
    )
    assert "first model" not in decision.note
    assert decision.note == (
        "No champion chosen yet (1 earlier version registered, none promoted to champion): "
        "judged on thresholds alone"
    )


def test_threshold_failure_names_the_metric() -> None:
    decision = decide({"accuracy": 0.85, "loss": 0.2}, THRESHOLDS, None, None, {})
    assert not decision.passed
    assert [(c.name, c.detail) for c in decision.failures] == [
        ("threshold accuracy", "accuracy = 0.85, required >= 0.9")
    ]


def test_regression_respects_metric_direction_and_allowance() -> None:
    champion = {"accuracy": 0.95, "loss": 0.20}
    ok = decide(
        {"accuracy": 0.94, "loss": 0.22},
        THRESHOLDS,
        champion,
        "3",
        {"accuracy": 0.02, "loss": 0.05},
    )
    assert ok.passed
    bad = decide(
        {"accuracy": 0.96, "loss": 0.30},
        THRESHOLDS,
        champion,
        "3",
        {"accuracy": 0.02, "loss": 0.05},
    )
    assert [c.name for c in bad.failures] == ["regression loss"]
    assert "worse by 0.1" in bad.failures[0].detail


def test_missing_metric_fails_instead_of_passing_silently() -> None:
    decision = decide(
        {"loss": 0.1}, parse_thresholds({"f1": ">= 0.5"}), {"loss": 0.1}, "1", {"auc": 0.01}
    )
    assert {c.name for c in decision.failures} == {"threshold f1", "regression auc"}
