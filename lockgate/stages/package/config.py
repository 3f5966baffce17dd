"""The ``with:`` block of ``uses: lockgate/package``, validated once into a frozen record."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError, field_validator

from lockgate.errors import LockgateError
from lockgate.spec.base import FrozenModel
from lockgate.spec.config_errors import describe_validation_error

_REPOSITORY = re.compile(r"^[a-z0-9.:-]+(?:/[a-z0-9._-]+)+$")


class PackageConfig(FrozenModel):
    model: str = Field(
        description="the model: a folder (`in:train/model`, workspace-relative) holding a model "
        "card, or an MLflow model URI `models:/NAME/VERSION`"
    )
    repository: str = Field(description="where the image is pushed: REGISTRY/PATH/NAME")
    name: str | None = Field(None, description="model name (default: the repository's last part)")
    version: str | None = Field(
        None, description="model version (default: MLflow's version, else a content digest)"
    )
    base: str | None = Field(None, description="base image (default: the stage's runner image)")
    run_file: str | None = Field(
        None, description="train-run.json with `mlflow_run_id` (default: beside the model folder)"
    )
    code: tuple[str, ...] = Field(
        (),
        description="workspace globs copied into the image for the entrypoint's imports "
        "(default: the entrypoint's module or package)",
    )
    source: str | None = Field(
        None,
        description="org.opencontainers.image.source (default: from CI variables or .git/config)",
    )
    created: str | None = Field(
        None,
        description="org.opencontainers.image.created (default: SOURCE_DATE_EPOCH, "
        "else the model card's `created`, else now)",
    )
    labels: dict[str, str] = Field(default_factory=dict, description="extra image labels")
    port: int = Field(8080, ge=1, le=65535, description="the port the server listens on")
    push_retries: int = Field(3, ge=0, le=10, description="re-tries of a failed push")
    retry_delay: float = Field(2.0, ge=0, le=60, description="seconds before the first re-try")
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI for `models:/` (default: MLFLOW_TRACKING_URI)"
    )

    @field_validator("repository")
    @classmethod
    def _repository(cls, v: str) -> str:
        if "@" in v or ":" in v.rsplit("/", 1)[-1] or not _REPOSITORY.match(v):
            raise ValueError(
                f"expected REGISTRY/PATH/NAME in lower case without tag or digest, got {v!r}"
            )
        return v

    @property
    def model_name(self) -> str:
        return self.name or self.repository.rsplit("/", 1)[-1]


def load_config(with_: Mapping[str, Any], stage: str) -> PackageConfig:
    try:
        return PackageConfig.model_validate(dict(with_))
    except ValidationError as exc:
        message = describe_validation_error(
            exc,
            prefix=f"stage {stage or 'package'}: ",
            root=("with",),
            hint=" (see docs/package.md for the `with:` reference)",
            model=PackageConfig,
        )
        raise LockgateError(message) from None
