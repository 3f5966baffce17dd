"""One duration grammar: what every reader of durations accepts and refuses."""

from __future__ import annotations

import pytest

from lockgate.commands._options import older_than_seconds
from lockgate.errors import LockgateError
from lockgate.spec.durations import parse_duration
from lockgate.stages.data_check.spec import duration_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("12h", 43200),
        ("2d", 172800),
        ("1w", 604800),
        ("1h30m", 5400),
        ("45", 45),
        (" 2d ", 172800),
        (120, 120),
    ],
)
def test_the_grammar(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "30x", "1.5h", "m", "30m1h", "-5", True, 0, "1" * 300])
def test_refusals_name_the_grammar_and_stay_short(text: object) -> None:
    with pytest.raises(ValueError, match=r"90s, 30m, 12h, 2d, 1w or 1h30m|positive") as raised:
        parse_duration(text)
    assert len(str(raised.value)) <= 200


def test_every_reader_speaks_the_same_grammar() -> None:
    assert duration_seconds("2d") == older_than_seconds("2d") == parse_duration("2d")
    assert duration_seconds("1h30m") == 5400.0
    with pytest.raises(LockgateError, match=r"--older-than: expected a duration like 90s"):
        older_than_seconds("7days")
