"""How each environment is rolled out, analysed and watched.

The settings live with the environment, in the ``rollout:`` block of its entry under
``environments`` in ``lockgate.yaml``; the older ``delivery.yaml`` beside the spec (a mapping by
environment name, or a file named with ``--delivery PATH``) is still read. Parsed once, at the
edge, into frozen models; see docs/delivery.md for the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationError, field_validator

from lockgate.delivery.rollout.conditions import Condition, ConditionError, parse_condition
from lockgate.errors import LockgateError
from lockgate.spec.base import FrozenModel
from lockgate.spec.config_errors import describe_validation_error

if TYPE_CHECKING:
    from lockgate.spec.yamlpos import Positions

DEFAULT_FILE = "delivery.yaml"


def _checked_conditions(value: tuple[str, ...]) -> tuple[str, ...]:
    """Refuse a condition that does not parse, with the parser's own message."""
    for text in value:
        try:
            parse_condition(text)
        except ConditionError as error:
            raise ValueError(str(error)) from None
    return value


class DeliveryConfigError(LockgateError):
    """delivery.yaml does not load or validate."""


class Pause(FrozenModel):
    duration: float | None = Field(
        default=None,
        ge=0,
        description="seconds to wait (the analysis window); absent: wait for resume",
    )


class Step(FrozenModel):
    weight: int = Field(ge=0, le=100, description="percent of traffic to the canary")
    pause: Pause = Field(default_factory=lambda: Pause(duration=30.0))


class PrometheusAnalysis(FrozenModel):
    url: str = Field(description="Prometheus base URL, e.g. http://127.0.0.1:9090")
    queries: dict[str, str] | None = Field(
        default=None,
        description="PromQL per metric, templated with ${canary} ${stable} ${window} "
        "(default: requests, error_rate, p95_ms, p99_ms over lockgate_* series)",
    )
    selector: str = Field(
        default='lockgate_env="${env}",lockgate_version="${version}"',
        description="label matchers of one version; ${env} and ${version} (r1, r2, ...)",
    )
    timeout_s: float = Field(default=5.0, gt=0)


class Analysis(FrozenModel):
    prometheus: PrometheusAnalysis | None = Field(
        default=None, description="read the analysis metrics from Prometheus, not /metrics"
    )
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

    _check_conditions = field_validator("conditions")(_checked_conditions)

    def parsed(self) -> tuple[Condition, ...]:
        return tuple(parse_condition(c) for c in self.conditions)


class Canary(FrozenModel):
    steps: tuple[Step, ...] = (
        Step(weight=10),
        Step(weight=25),
        Step(weight=50),
    )


class BlueGreen(FrozenModel):
    smoke_requests: int = Field(
        default=20, ge=1, description="requests sent to the new version first"
    )
    keep_old_s: float = Field(
        default=300.0, ge=0, description="how long the old version stays warm"
    )
    features: int = Field(default=4, ge=1, description="columns of the random smoke-test rows")


class Monitor(FrozenModel):
    interval_s: float = Field(default=10.0, gt=0)
    conditions: tuple[str, ...] = ("error_rate < 0.01", "p95_ms < 200", "prediction_psi < 0.2")
    breaches: int = Field(
        default=3, ge=1, description="consecutive failing windows before rollback"
    )
    min_requests: int = Field(default=20, ge=1)
    reference: dict[str, float] | None = Field(
        default=None, description="expected prediction mix; default: the one recorded at promotion"
    )

    _check_conditions = field_validator("conditions")(_checked_conditions)

    def parsed(self) -> tuple[Condition, ...]:
        return tuple(parse_condition(c) for c in self.conditions)


class DockerSettings(FrozenModel):
    port: int = Field(default=0, ge=0, le=65535, description="proxy port on 127.0.0.1; 0 picks one")
    container_port: int = 8080
    env: dict[str, str] = Field(default_factory=dict)
    drain_s: float = Field(
        default=1.0, ge=0, description="wait after removing a version from routing"
    )
    ready_timeout_s: float = Field(default=60.0, gt=0)


class KubernetesSettings(FrozenModel):
    namespace: str = "default"
    context: str | None = Field(default=None, description="kubectl context; none: render only")
    app: str = "model"
    container_port: int = 8080
    replicas: int = Field(default=2, ge=1)
    router: Literal["argo-rollouts", "gateway-api"] = "gateway-api"
    gateway: str = "lockgate"
    prometheus_url: str = "http://prometheus.monitoring:9090"
    api_server: str | None = Field(
        default=None,
        description="Kubernetes API URL: apply and read back through it (when no context)",
    )
    token_file: Path | None = Field(default=None, description="bearer token for api_server")
    ca_file: Path | None = Field(default=None, description="CA bundle of api_server")
    argo_timeout_s: float = Field(default=1800.0, gt=0, description="wait for Argo's verdict")
    argo_poll_s: float = Field(default=5.0, gt=0)


class EnvironmentDelivery(FrozenModel):
    target: Literal["docker", "kubernetes"] = "docker"
    strategy: Literal["canary", "blue-green"] = "canary"
    canary: Canary = Field(default_factory=lambda: Canary())
    blue_green: BlueGreen = Field(default_factory=lambda: BlueGreen())
    analysis: Analysis = Field(default_factory=lambda: Analysis())
    monitor: Monitor = Field(default_factory=lambda: Monitor())
    docker: DockerSettings = Field(default_factory=lambda: DockerSettings())
    kubernetes: KubernetesSettings = Field(default_factory=lambda: KubernetesSettings())


class DeliveryConfig(FrozenModel):
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
    """Read and validate ``path``, read the way the spec is (core schema, limits, duplicate keys
    refused); every problem is reported at its line. A missing file is an empty configuration."""
    from lockgate.spec.yamlpos import load_yaml, read_spec_text

    if not path.exists():
        return DeliveryConfig()
    try:
        raw, positions = load_yaml(read_spec_text(path), str(path))
    except LockgateError as error:
        raise DeliveryConfigError(str(error)) from None
    try:
        return DeliveryConfig.model_validate(raw or {})
    except ValidationError as error:
        raise DeliveryConfigError(
            describe_validation_error(error, positions=positions, model=DeliveryConfig)
        ) from None


SPEC_FILE = "lockgate.yaml"


@dataclass(frozen=True)
class RolloutSettings:
    """One environment's rollout settings and the project folder they belong to (where the
    rollout state lives)."""

    env: str
    settings: EnvironmentDelivery
    root: Path


def rollout_blocks(spec: Path) -> tuple[dict[str, EnvironmentDelivery], tuple[str, ...]]:
    """The ``rollout:`` block of every environment in ``spec`` (validated; every problem
    reported with its file:line:col) and the names of all its environments, in order."""
    from lockgate.spec.yamlpos import load_yaml, read_spec_text

    raw, positions = load_yaml(read_spec_text(spec), str(spec))
    listed = raw.get("environments") if isinstance(raw, dict) else None
    blocks: dict[str, EnvironmentDelivery] = {}
    names: list[str] = []
    problems: list[str] = []
    for i, item in enumerate(listed if isinstance(listed, list) else ()):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        names.append(item["name"])
        if item.get("rollout") is None:
            continue
        try:
            blocks[item["name"]] = EnvironmentDelivery.model_validate(item["rollout"])
        except ValidationError as error:
            problems.append(_rollout_problem(error, i, positions))
    if problems:
        raise DeliveryConfigError("\n".join(problems))
    return blocks, tuple(names)


def _rollout_problem(error: ValidationError, index: int, positions: Positions) -> str:
    """``error`` in environment ``index``'s rollout block, each problem at its spec line."""
    root = ("environments", index, "rollout")
    return describe_validation_error(
        error, root=root, positions=positions, model=EnvironmentDelivery
    )


def _nearest_spec(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / SPEC_FILE).is_file():
            return folder / SPEC_FILE
    return None


def resolve_rollout(
    env: str, *, delivery: Path | None = None, start: Path | None = None
) -> RolloutSettings:
    """Where ``env``'s rollout settings come from: ``--delivery FILE`` when given; otherwise the
    environment's ``rollout:`` block in the nearest lockgate.yaml (the defaults when the
    environment is listed without one). A ``delivery.yaml`` beside the spec, the older form,
    is still read; the same environment in both places is refused."""
    if delivery is not None:
        path = delivery.resolve()
        return RolloutSettings(env, load_delivery_config(path).environment(env), path.parent)
    here = (start or Path.cwd()).resolve()
    spec = _nearest_spec(here)
    root = spec.parent if spec else here
    legacy = root / DEFAULT_FILE
    older = load_delivery_config(legacy) if legacy.is_file() else None
    if spec is None:
        if older is None:
            raise DeliveryConfigError(
                f"no {SPEC_FILE} in {here} or a parent folder: describe environment {env!r} "
                f"under `environments` there (see docs/gates.md), or pass --delivery FILE"
            )
        return RolloutSettings(env, older.environment(env), root)
    blocks, names = rollout_blocks(spec)
    if env in blocks and older is not None and env in older.environments:
        raise DeliveryConfigError(
            f"environment {env!r} has rollout settings in two places, {spec} "
            f"(environments[].rollout) and {legacy}; keep the one in {SPEC_FILE} and remove "
            f"{env!r} from {DEFAULT_FILE}"
        )
    if env in blocks:
        return RolloutSettings(env, blocks[env], root)
    if older is not None and env in older.environments:
        return RolloutSettings(env, older.environments[env], root)
    if env in names:
        return RolloutSettings(env, EnvironmentDelivery(), root)
    known = ", ".join(dict.fromkeys((*names, *(older.environments if older else ())))) or "none"
    raise DeliveryConfigError(
        f"{spec}: no environment {env!r} under `environments` (known: {known}); add it there "
        "(see docs/gates.md)"
    )


def check_rollout_settings(spec: Path) -> list[str]:
    """What ``lockgate validate`` checks: every ``rollout:`` block in the spec and, when there is
    one, the older delivery.yaml beside it; the same environment in both is an error. Returns
    notes for the user."""
    blocks, _ = rollout_blocks(spec)
    legacy = spec.parent / DEFAULT_FILE
    if not legacy.is_file():
        return []
    older = load_delivery_config(legacy)
    both = sorted(set(blocks) & set(older.environments))
    if both:
        raise DeliveryConfigError(
            f"{legacy}: {', '.join(both)} also ha{'ve' if len(both) > 1 else 's'} a `rollout:` "
            f"block in {spec.name}; keep the one in {spec.name} and remove it from {legacy.name}"
        )
    return [
        f"{legacy.name} is still read, but rollout settings now live with each environment in "
        f"{spec.name} (`rollout:` under `environments`, see docs/gates.md)"
    ]
