"""The one config-error formatter, on real pydantic models: where, what, and every problem."""

from __future__ import annotations

import pytest
from pydantic import Field, ValidationError

from lockgate.spec.base import FrozenModel
from lockgate.spec.config_errors import describe_validation_error, model_keys
from lockgate.spec.yamlpos import load_yaml


class Retry(FrozenModel):
    attempts: int = Field(ge=1)
    backoff: float = 1.0


class Job(FrozenModel):
    name: str
    retry: Retry | None = None
    steps: list[Retry] = Field(default_factory=list)


def failure(raw: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        Job.model_validate(raw)
    return info.value


def test_one_problem_names_the_field_and_keeps_pydantics_reason() -> None:
    message = describe_validation_error(
        failure({"name": "j", "retry": {"attempts": 0}}), prefix="job.yaml: ", model=Job
    )
    assert message == "job.yaml: retry.attempts: Input should be greater than or equal to 1"


def test_unknown_key_suggests_the_close_one_through_optionals_and_lists() -> None:
    message = describe_validation_error(
        failure({"name": "j", "steps": [{"attempts": 1, "bakcoff": 2}]}), root=("with",), model=Job
    )
    assert message == "with.steps[0].bakcoff: unknown key 'bakcoff'; did you mean 'backoff'?"


def test_every_problem_is_listed_after_the_first_then_counted() -> None:
    raw = {"steps": [{"x": 1}, {"x": 1}]}
    message = describe_validation_error(failure(raw), prefix="stage s: ", hint=" (see docs)")
    assert message == (
        "stage s: name: required key is missing (and 4 more: steps[0].attempts: required key is "
        "missing; steps[0].x: unknown key 'x'; steps[1].attempts: required key is missing, ...)"
        " (see docs)"
    )


def test_positions_put_file_line_col_on_every_problem() -> None:
    raw, positions = load_yaml("name: j\nretry:\n  attempts: 0\n  tries: 3\n", "job.yaml")
    message = describe_validation_error(failure(raw), positions=positions, model=Job)
    assert message == (
        "job.yaml:3:13: retry.attempts: Input should be greater than or equal to 1 "
        "(and 1 more: job.yaml:4:3: retry.tries: unknown key 'tries'; expected one of: "
        "attempts, backoff)"
    )


def test_model_keys_walks_into_nested_models() -> None:
    keys = model_keys(Job)
    assert keys(()) == ["name", "retry", "steps"]
    assert keys(("steps", 3)) == ["attempts", "backoff"]
    assert keys(("name",)) == []
