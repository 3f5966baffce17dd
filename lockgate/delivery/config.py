"""``delivery.yaml``: how each environment is rolled out, analysed and watched.

Parsed once, at the edge, into frozen models. The file sits beside ``lockgate.yaml`` (or is named
with ``--delivery PATH``); see docs/delivery.md for the reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lockgate.delivery.rollout.conditions import Condition, ConditionError, parse_condition
from lockgate.errors import LockgateError

DEFAULT_FILE = "delivery.yaml"


class DeliveryConfigError(LockgateError):
    """delivery.yaml does not load or validate."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pause(Model):
    duration: float | None = Field(
        default=None,
        ge=0,
        description="seconds to wait (the analysis window); absent: wait for resume",
    )


class Step(Model):
    weight: int = Field(ge=0, le=100, description="percent of traffic to the canary")
    pause: Pause = Field(default_factory=lambda: Pause(duration=30.0))


class Analysis(Model):
    conditions: tuple[str, ...] = ("error_rate < 0.01", "p95_ms < 200", "prediction_psi < 0.2")
    failure_limit: int = Field(
        default=0, ge=0, description="failed measurements tolerated before abort"
    )
    min_requests: int = Field(
        default=20, ge=1, description="canary requests a window needs to count"
    )
    min_predictions: int = Field(
        default=50,
        ge=0,
        description="predictions each side needs before drift conditions are judged "
        "(fewer: those conditions are inconclusive)",
    )
    max_extensions: int = Field(
        default=2, ge=0, description="windows added when traffic is too low"
    )
    window_s: float = Field(
        default=30.0, gt=0, description="analysis window of a step with a manual pause"
    )

    @field_validator("conditions")
    @classmethod
    def _parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            try:
                parse_condition(text)
            except ConditionError as error:
                raise ValueError(str(error)) from None
        return value

    def parsed(self) -> tuple[Condition, ...]:
        return tuple(parse_condition(c) for c in self.conditions)


class Canary(Model):
    steps: tuple[Step, ...] = (
        Step(weight=10),
        Step(weight=25),
        Step(weight=50),
    )


class BlueGreen(Model):
    smoke_requests: int = Field(
        default=20, ge=1, description="requests sent to the new version first"
    )
    keep_old_s: float = Field(
        default=300.0, ge=0, description="how long the old version stays warm"
    )
    features: int = Field(default=4, ge=1, description="columns of the random smoke-test rows")


class Monitor(Model):
    interval_s: float = Field(default=10.0, gt=0)
    conditions: tuple[str, ...] = ("error_rate < 0.01", "p95_ms < 200", "prediction_psi < 0.2")
    breaches: int = Field(
        default=3, ge=1, description="consecutive failing windows before rollback"
    )
    min_requests: int = Field(default=20, ge=1)
    reference: dict[str, float] | None = Field(
        default=None, description="expected prediction mix; default: the one recorded at promotion"
    )

    @field_validator("conditions")
    @classmethod
    def _parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            try:
                parse_condition(text)
            except ConditionError as error:
                raise ValueError(str(error)) from None
        return value

    def parsed(self) -> tuple[Condition, ...]:
        return tuple(parse_condition(c) for c in self.conditions)


class DockerSettings(Model):
    port: int = Field(default=0, ge=0, le=65535, description="proxy port on 127.0.0.1; 0 picks one")
    container_port: int = 8080
    env: dict[str, str] = Field(default_factory=dict)
    drain_s: float = Field(
        default=1.0, ge=0, description="wait after removing a version from routing"
    )
    ready_timeout_s: float = Field(default=60.0, gt=0)


class KubernetesSettings(Model):
    namespace: str = "default"
    context: str | None = Field(default=None, description="kubectl context; none: render only")
    app: str = "model"
    container_port: int = 8080
    replicas: int = Field(default=2, ge=1)
    router: Literal["argo-rollouts", "gateway-api"] = "gateway-api"
    gateway: str = "lockgate"
    prometheus_url: str = "http://prometheus.monitoring:9090"


class EnvironmentDelivery(Model):
    target: Literal["docker", "kubernetes"] = "docker"
    strategy: Literal["canary", "blue-green"] = "canary"
    canary: Canary = Field(default_factory=lambda: Canary())
    blue_green: BlueGreen = Field(default_factory=lambda: BlueGreen())
    analysis: Analysis = Field(default_factory=lambda: Analysis())
    monitor: Monitor = Field(default_factory=lambda: Monitor())
    docker: DockerSettings = Field(default_factory=lambda: DockerSettings())
    kubernetes: KubernetesSettings = Field(default_factory=lambda: KubernetesSettings())


class DeliveryConfig(Model):
    environments: dict[str, EnvironmentDelivery] = Field(default_factory=dict)

    def environment(self, name: str) -> EnvironmentDelivery:
        found = self.environments.get(name)
        if found is None:
            known = ", ".join(sorted(self.environments)) or "none"
            raise DeliveryConfigError(
                f"delivery.yaml: no environment {name!r} under `environments` (known: {known})"
            )
        return found


def load_delivery_config(path: Path) -> DeliveryConfig:
    """Read and validate ``path``; a missing file is an empty configuration."""
    import yaml

    if not path.exists():
        return DeliveryConfig()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise DeliveryConfigError(f"{where}: not valid YAML ({error})") from None
    try:
        return DeliveryConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise DeliveryConfigError(f"{path}: {field}: {first['msg']}") from None
