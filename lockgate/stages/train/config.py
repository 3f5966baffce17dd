"""The ``with:`` block of ``uses: lockgate/train``, validated once into a frozen record."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from lockgate.errors import LockgateError
from lockgate.spec.base import FrozenModel
from lockgate.spec.config_errors import describe_validation_error


class TrainConfigError(LockgateError):
    """The ``with:`` block of a train stage is invalid."""


DEVICES = re.compile(r"auto|cpu|cuda(:[0-9]+)?")
MAX_SEED = 2**32 - 1  # what every generator lockgate seeds accepts (NumPy's is the narrowest)


class DataConfig(FrozenModel):
    train: str = Field(description="Parquet, CSV or NPZ file: in:STAGE/path or a workspace path")
    valid: str | None = None
    target: str = "label"
    task: Literal["auto", "classification", "regression"] = "auto"
    placement: Literal["auto", "device", "host"] = "auto"


class TrainConfig(FrozenModel):
    entrypoint: str = Field(description="module:function or path/to/file.py:function")
    data: DataConfig
    params: dict[str, Any] = Field(default_factory=dict)
    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=256, ge=1)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    deterministic: bool = False
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: Literal["auto", "bf16", "fp16", "off"] = "off"
    amp_probe_steps: int = Field(default=30, ge=5)
    capture: Literal["auto", "cuda-graph", "compile", "off"] = "off"
    checkpoint_every: int = Field(default=500, ge=1, description="optimizer steps")
    checkpoint_dir: str | None = None
    keep_checkpoints: int = Field(default=2, ge=1)
    resume: bool = True
    gpus: int = Field(default=1, ge=0)
    tracking: Literal["on", "off"] = "on"
    tracking_uri: str | None = None
    experiment: str = "lockgate"
    model_name: str | None = None
    max_steps: int | None = Field(default=None, ge=1, description="stop early (smoke runs)")

    @field_validator("amp", "tracking", "capture", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        """YAML 1.1 reads a bare ``off``/``on`` as a boolean; take it to mean the word."""
        if value is False:
            return "off"
        if value is True:
            return "on"
        return value

    @field_validator(
        "epochs",
        "batch_size",
        "seed",
        "amp_probe_steps",
        "checkpoint_every",
        "keep_checkpoints",
        "gpus",
        "max_steps",
        mode="before",
    )
    @classmethod
    def _not_a_bool(cls, value: Any) -> Any:
        """YAML's true/false are numbers to Python (``epochs: true`` would train 1 epoch)."""
        if isinstance(value, bool):
            raise ValueError(f"{str(value).lower()} is not a whole number; give one, e.g. 10")
        return value

    @model_validator(mode="after")
    def _one_device_per_worker(self) -> TrainConfig:
        if self.gpus > 1 and ":" in self.device:
            raise ValueError(
                f"device {self.device!r} names one GPU, but gpus is {self.gpus}: each worker "
                f"takes its own GPU (cuda:0 to cuda:{self.gpus - 1}); set device: cuda (or "
                "auto), or gpus: 1"
            )
        return self

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not DEVICES.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a device lockgate trains on; use auto, cpu, cuda or cuda:N "
                "(N the GPU's index, e.g. cuda:0)"
            )
        return value


def parse_train_config(with_: Mapping[str, Any]) -> TrainConfig:
    """Validate ``with:``; the first problem becomes a one-line :class:`TrainConfigError`."""
    try:
        return TrainConfig.model_validate(dict(with_))
    except ValidationError as exc:
        message = describe_validation_error(
            exc,
            prefix="train stage ",
            root=("with",),
            hint=" (see docs/train.md)",
            model=TrainConfig,
        )
        raise TrainConfigError(message) from None
