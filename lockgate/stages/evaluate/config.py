"""The ``with:`` block of ``uses: lockgate/evaluate``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError

from lockgate.errors import LockgateError
from lockgate.spec.base import FrozenModel
from lockgate.spec.config_errors import describe_validation_error
from lockgate.stages.evaluate.thresholds import Threshold, parse_thresholds


class EvaluateConfigError(LockgateError):
    """The ``with:`` block of an evaluate stage is invalid."""


class BenchmarkConfig(FrozenModel):
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 64, 1024])
    iterations: int = Field(default=50, ge=1)
    warmup: int = Field(default=5, ge=0)
    enabled: bool = True


class EvaluateConfig(FrozenModel):
    model_name: str = Field(min_length=1, description="registered model name")
    data: str = Field(description="holdout set: Parquet, CSV or NPZ")
    target: str = "label"
    task: Literal["auto", "classification", "regression"] = "auto"
    train: str = Field(default="train", description="the upstream train stage")
    thresholds: dict[str, Any] = Field(default_factory=dict)
    max_regression: dict[str, float] = Field(default_factory=dict)
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig)
    device: str = "auto"
    tracking_uri: str | None = None
    champion: Literal["required", "optional"] = Field(
        default="required",
        description="with max_regression: 'required' refuses to run in CI against a store that "
        "does not outlive the job (every model would look like the first); 'optional' lets the "
        "first model pass on thresholds alone",
    )

    def parsed_thresholds(self) -> tuple[Threshold, ...]:
        return parse_thresholds(self.thresholds)


def parse_evaluate_config(with_: Mapping[str, Any]) -> EvaluateConfig:
    try:
        cfg = EvaluateConfig.model_validate(dict(with_))
    except ValidationError as exc:
        message = describe_validation_error(
            exc, prefix="evaluate stage ", root=("with",), model=EvaluateConfig
        )
        raise EvaluateConfigError(message) from None
    cfg.parsed_thresholds()  # fail early on a bad threshold
    for metric, allowed in cfg.max_regression.items():
        if allowed < 0:
            raise EvaluateConfigError(
                f"evaluate stage with.max_regression.{metric}: {allowed} is negative; give the "
                "largest allowed worsening as a positive number"
            )
    return cfg
