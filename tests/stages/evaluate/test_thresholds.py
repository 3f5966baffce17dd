from __future__ import annotations

import re

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.evaluate.config import parse_evaluate_config
from lockgate.stages.evaluate.thresholds import ThresholdError, parse_threshold, parse_thresholds


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        (">= 0.9", ">=", 0.9),
        ("<=0.5", "<=", 0.5),
        ("  > 1e-3 ", ">", 0.001),
        ("< -2", "<", -2.0),
        ("== 1", "==", 1.0),
        (">= .75", ">=", 0.75),
    ],
)
def test_parses_operator_and_number(text: str, op: str, value: float) -> None:
    t = parse_threshold("m", text)
    assert (t.op, t.value) == (op, value)


def test_threshold_holds_by_its_operator() -> None:
    ge, le = parse_thresholds({"accuracy": ">= 0.9", "loss": "<= 0.5"})
    assert ge.holds(0.9) and not ge.holds(0.8999)
    assert le.holds(0.5) and not le.holds(0.51)
    assert not ge.holds(float("nan"))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0.9", "with.thresholds.accuracy: '0.9' is not 'OP NUMBER'"),
        (0.9, "with.thresholds.accuracy: 0.9 has no comparison; write '>= 0.9' or '<= 0.9'"),
        (">= 0.9; import os", "is not 'OP NUMBER'"),
        ("__import__('os').system('true')", "is not 'OP NUMBER'"),
        ("=> 0.9", "is not 'OP NUMBER'"),
        (">= nan", "is not 'OP NUMBER'"),
        (">= 1e999", "is not a finite number"),
        (True, "expected text like '>= 0.9', got bool"),
        (["<", 1], "expected text like '>= 0.9', got list"),
    ],
)
def test_bad_threshold_is_a_clear_one_line_error(raw: object, message: str) -> None:
    with pytest.raises(ThresholdError) as info:
        parse_threshold("accuracy", raw)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, LockgateError)


def test_evaluate_config_rejects_bad_threshold_and_negative_regression() -> None:
    base = {"model_name": "m", "data": "in:prepare/test.parquet"}
    with pytest.raises(ThresholdError, match=re.escape("with.thresholds.f1")):
        parse_evaluate_config({**base, "thresholds": {"f1": "at least 0.8"}})
    with pytest.raises(LockgateError, match=r"with\.max_regression\.loss: -0\.1 is negative"):
        parse_evaluate_config({**base, "max_regression": {"loss": -0.1}})
    with pytest.raises(
        LockgateError, match=r"^evaluate stage with\.model_name: required key is missing$"
    ):
        parse_evaluate_config({"data": "x.csv"})
    with pytest.raises(LockgateError, match=re.escape("with.treshold")):
        parse_evaluate_config({**base, "treshold": {}})
