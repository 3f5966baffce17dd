"""The typed, frozen form of ``lockgate.yaml`` (version 1).

Everything past :mod:`lockgate.spec` works with these records, never with raw dicts. Field
docstrings become the JSON Schema descriptions that editors show (``lockgate schema``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from lockgate.spec.base import FrozenModel
from lockgate.spec.ci import Ci
from lockgate.spec.durations import DURATION_PATTERN, parse_duration

NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
StageName = Annotated[str, Field(pattern=NAME)]


class Model(FrozenModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# what a spec may write for a duration (lockgate.spec.durations), for editors: the model reads
# it into whole seconds
DURATION_SCHEMA = {
    "description": "seconds, or a duration like '30m', '1h30m'",
    "anyOf": [
        {"type": "integer", "minimum": 1},
        {"type": "string", "pattern": DURATION_PATTERN},
    ],
}
Duration = Annotated[int, WithJsonSchema(DURATION_SCHEMA)]


class Image(Model):
    """The runner image every stage runs in, unless a stage names its own."""

    base: str | None = Field(
        None,
        description="base image reference (e.g. lockgate/debian:bookworm or REG/NAME@sha256:...)",
    )
    dockerfile: str | None = Field(None, description="path of a Dockerfile, relative to the spec")
    context: str = Field(".", description="build context for `dockerfile`, relative to the spec")
    requirements: str | None = Field(
        None, description="pip requirements file installed into `base` (wheels fetched on the host)"
    )
    packages: tuple[str, ...] = Field((), description="OS packages installed into `base` with apt")
    lockgate: bool = Field(True, description="install lockgate itself into the image")

    @model_validator(mode="after")
    def _one_source(self) -> Image:
        if (self.base is None) == (self.dockerfile is None):
            raise ValueError("give exactly one of `base` or `dockerfile`")
        if self.dockerfile and (self.requirements or self.packages):
            raise ValueError(
                "`requirements` and `packages` go with `base`; put them in the Dockerfile"
            )
        return self


class SecretSource(Model):
    """Where a secret's value comes from at run time. Only the name ever reaches a record."""

    env: str | None = Field(None, description="environment variable holding the value")
    file: str | None = Field(
        None, description="regular file holding the value (UTF-8 text, at most 1 MiB)"
    )

    @model_validator(mode="after")
    def _one(self) -> SecretSource:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of `env` or `file`")
        return self


class Runner(Model):
    """Where CI runs the stage: self-hosted runner labels, GitLab tags, Jenkins agent labels."""

    labels: tuple[str, ...] = Field((), description="runner labels / tags / agent labels")
    scale_set: str | None = Field(None, description="GitHub runner scale set name (single label)")


def _labels_too(schema: dict[str, Any]) -> None:
    """``runner:`` also takes a list of labels (or one label), as the model reads it."""
    schema["anyOf"] = [
        *schema.get("anyOf", []),
        {"type": "array", "items": {"type": "string"}},
        {"type": "string"},
    ]


UNCACHEABLE = "lockgate/ingest"  # its outputs follow its source, not its cache key's inputs


class Stage(Model):
    """One containerized step of the pipeline."""

    run: tuple[str, ...] | str | None = Field(
        None, description="argv list, or a shell string run with `sh -c`"
    )
    uses: str | None = Field(None, description="a built-in stage: lockgate/NAME")
    with_: dict[str, Any] = Field(
        default_factory=dict, alias="with", description="settings of a `uses:` stage"
    )
    needs: tuple[StageName, ...] = Field((), description="upstream stages whose outputs it reads")
    inputs: tuple[str, ...] = Field(
        (), description="globs of source files (relative to the spec) that feed the cache key"
    )
    outputs: tuple[str, ...] = Field(
        (), description="files (relative to LOCKGATE_OUT) the stage must produce"
    )
    env: dict[str, str] = Field(default_factory=dict, description="environment variables")
    secrets: tuple[str, ...] = Field((), description="names of secrets (declared at top level)")
    caches: dict[str, str] = Field(
        default_factory=dict,
        description="name -> absolute path kept between runs (one run with encryption on)",
    )
    gpu: int | Literal["all"] = Field(0, description="GPUs the stage needs (a count, or 'all')")
    runner: Runner | None = Field(
        None,
        description="CI runner placement; a list of labels is short for {labels: [...]}",
        json_schema_extra=_labels_too,
    )
    timeout: Duration | None = Field(None, description="kill the stage after this long")
    retries: int = Field(0, ge=0, le=10, description="re-runs after a failure")
    image: Image | None = Field(None, description="a different image for this stage")
    when: tuple[Literal["pull_request", "push", "schedule", "data_update", "manual"], ...] = Field(
        ("pull_request", "push", "schedule", "data_update", "manual"),
        description="CI triggers that run this stage",
    )
    environment: str | None = Field(
        None, description="an environment this stage deploys to (gated in CI)"
    )
    cache: bool = Field(
        True, description="reuse outputs when the cache key matches (never for lockgate/ingest)"
    )
    engine: bool = Field(
        False,
        description="give the stage the container engine's API socket (image builds); a "
        "privilege: the stage can then start any container on the host",
    )

    _parse_timeout = field_validator("timeout", mode="before")(
        lambda v: None if v is None else parse_duration(v)
    )

    @field_validator("runner", mode="before")
    @classmethod
    def _runner_list(cls, v: Any) -> Any:
        return {"labels": v} if isinstance(v, list | str) else v

    @field_validator("env", mode="before")
    @classmethod
    def _env_strings(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: (str(x).lower() if isinstance(x, bool) else str(x)) for k, x in v.items()}
        return v

    @model_validator(mode="before")
    @classmethod
    def _ingest_never_cached(cls, data: Any) -> Any:
        """An ingest stage's outputs depend on data the cache key cannot see: off by default."""
        if isinstance(data, dict) and data.get("uses") == UNCACHEABLE and "cache" not in data:
            return {**data, "cache": False}
        return data

    @field_validator("cache")
    @classmethod
    def _refuse_cached_ingest(cls, v: bool, info: ValidationInfo) -> bool:
        if v and info.data.get("uses") == UNCACHEABLE:
            raise ValueError(
                f"{UNCACHEABLE} cannot be cached: it reads a database or store that changes "
                "while the spec and workspace stay the same, so a cache hit would hide new "
                "data; remove `cache: true` (incremental and stream runs already read only "
                "new rows)"
            )
        return v

    @field_validator("caches")
    @classmethod
    def _absolute(cls, v: dict[str, str]) -> dict[str, str]:
        for name, path in v.items():
            if not re.match(NAME, name):
                raise ValueError(f"cache name {name!r} must match {NAME}")
            if not path.startswith("/"):
                raise ValueError(f"cache {name!r}: path must be absolute, got {path!r}")
        return v

    @model_validator(mode="after")
    def _run_or_uses(self) -> Stage:
        if (self.run is None) == (self.uses is None):
            raise ValueError("give exactly one of `run` or `uses`")
        if self.with_ and self.uses is None:
            raise ValueError("`with` configures a `uses:` stage; this stage has `run`")
        if isinstance(self.run, tuple) and not self.run:
            raise ValueError("`run` is an empty list")
        return self


class Environment(Model):
    """A deployment target, in promotion order."""

    name: StageName = Field(description="the environment's name, e.g. staging")
    approvers: tuple[str, ...] = Field(
        (), description="users, or @group names from `groups`, who may approve"
    )
    required_approvals: int = Field(0, ge=0, description="approvals needed before promotion")
    four_eyes: bool = Field(False, description="the change's author may not approve it")
    emergency: tuple[str, ...] = Field(
        (),
        description="users or @groups who may roll back with `--emergency` when the earlier "
        "release's approvals no longer hold (recorded as an emergency)",
    )
    health_markers: tuple[str, ...] | None = Field(
        None,
        description="users or @groups who may mark a release here healthy or unhealthy by hand "
        "(`lockgate health ENV --mark`; default: the approvers and the emergency list; a "
        "manual mark is shown as manual wherever it counts)",
    )
    url: str | None = Field(None, description="where the environment's service answers")
    deployment_tier: Literal["production", "staging", "testing", "development", "other"] | None = (
        Field(None, description="GitLab's deployment tier")
    )
    requires_healthy_in: StageName | None = Field(
        None,
        description="the environment a digest must have run healthy in before it may come here "
        "(default: the previous environment in this list; none for the first)",
    )
    approval_ttl: Duration | None = Field(
        None, description="how long an approval stays valid (default: `policy.approval_ttl`)"
    )
    deployer: str = Field(
        "manifest",
        description="how a release reaches the environment: `manifest` writes the release to "
        "`.lockgate/releases/ENV.json` and probes `url` for health",
    )
    model_alias: str | None = Field(
        None,
        description="MLflow alias moved to the promoted model version (default: `champion` for "
        "the last environment, the environment's name otherwise)",
    )
    rollout: dict[str, Any] | None = Field(
        None,
        description="how a release takes traffic here: target, strategy, canary steps, "
        "analysis, monitor (docs/delivery.md; checked by `lockgate validate`); absent: the "
        "defaults — a docker canary at 10/25/50 percent",
    )

    _parse_ttl = field_validator("approval_ttl", mode="before")(
        lambda v: None if v is None else parse_duration(v)
    )

    @model_validator(mode="after")
    def _enough_approvers(self) -> Environment:
        if self.required_approvals and not self.approvers:
            raise ValueError(
                f"requires {self.required_approvals} approval(s) but lists no `approvers`"
            )
        return self


class Residency(Model):
    """Where an environment's releases may come from. An omitted list allows anything."""

    registries: tuple[str, ...] | None = Field(
        None, description="image repository prefixes allowed, e.g. registry.eu.example/ml"
    )
    mlflow_servers: tuple[str, ...] | None = Field(
        None, description="MLflow tracking URIs (prefixes) the model version may come from"
    )
    artifact_stores: tuple[str, ...] | None = Field(
        None, description="artifact location prefixes allowed for the model, e.g. s3://eu-models/"
    )
    allow_pii: bool = Field(
        True,
        description="false: refuse models trained on data the data-check stage flagged with PII",
    )


class LedgerStore(Model):
    """Where the release ledger lives."""

    store: Literal["embedded", "git"] = Field(
        "embedded",
        description="`embedded`: `.lockgate/ledger/` on this machine; `git`: a dedicated branch "
        "pushed with the repository, shared by the team",
    )
    branch: str = Field("lockgate-ledger", description="the ledger branch (`git` store)")
    remote: str = Field("origin", description="the remote the ledger branch is pushed to")
    public_key: str | None = Field(
        None,
        description="Ed25519 public key (PEM, relative to the spec) the ledger is signed with: "
        "every reader then checks every entry and the head against it, and every writer must "
        "sign (`--signing-key`); an unsigned entry never counts",
    )
    checkpoint_every: int = Field(
        1000,
        ge=0,
        description="signed ledger: when a command run with the ledger key leaves this many "
        "entries after the last signed checkpoint, it audits the ledger and writes one, so a "
        "fresh machine's first audit checks only the signatures after it; 0: never (see "
        "`lockgate audit checkpoint`)",
    )


class OidcIssuer(Model):
    """A CI system whose OpenID Connect tokens prove who acts (see docs/gates.md)."""

    issuer: str = Field(
        description="issuer URL, e.g. https://token.actions.githubusercontent.com, "
        "https://gitlab.com, or your Jenkins' OIDC provider"
    )
    audience: str = Field("lockgate", description="the audience the CI requests the token for")
    actor_claim: str = Field(
        "actor", description="claim naming the actor: actor (GitHub), user_login (GitLab)"
    )


class Policy(Model):
    """Release policy: approvals, residency, the ledger."""

    approval_ttl: Duration = Field(86400, description="how long an approval stays valid")
    verify: str | None = Field(
        None,
        description="verify policy file (relative to the spec) that `lockgate promote` and "
        "`lockgate verify` apply: trusted key, required attestations, scan policy",
    )
    groups_file: str | None = Field(
        None,
        description="YAML file (relative to the spec) mapping group names to members, owned by "
        "the security team; its groups add to top-level `groups`",
    )
    allowed_signers: str | None = Field(
        None,
        description="allowed-signers file (relative to the spec; git's format) mapping each "
        "person's SSH key to their name and @groups: who may sign at a laptop",
    )
    oidc: tuple[OidcIssuer, ...] = Field(
        (), description="CI issuers whose verified OIDC tokens prove who acts in CI"
    )
    residency: dict[StageName, Residency] = Field(
        default_factory=dict, description="environment name -> allowed sources"
    )
    ledger: LedgerStore = Field(
        default_factory=lambda: LedgerStore(), description="the release ledger"
    )

    _parse_ttl = field_validator("approval_ttl", mode="before")(parse_duration)


class Branches(Model):
    """The branches a trigger is limited to."""

    branches: tuple[str, ...] = Field((), description="branch names or globs")


class Schedule(Model):
    """A periodic run."""

    cron: str = Field(description="five-field cron expression, UTC")

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, v: str) -> str:
        if len(v.split()) != 5:
            raise ValueError(f"cron needs five fields, got {v!r}")
        return v


class DataUpdate(Model):
    """Run when data changes: an external event (repository_dispatch, a trigger token, a
    parameterised build) names the changed dataset."""

    event: str = Field("data-update", description="event type / variable value that triggers")


class Triggers(Model):
    """What starts the pipeline in the generated CI files."""

    pull_request: Branches | None = Field(
        default_factory=lambda: Branches(),
        description="pull/merge requests (to these branches; all if empty)",
    )
    push: Branches | None = Field(
        default_factory=lambda: Branches(branches=("main",)), description="pushes to these branches"
    )
    schedule: tuple[Schedule, ...] = Field((), description="periodic runs, e.g. retraining")
    data_update: DataUpdate | None = Field(None, description="runs started by a data update event")


class Encryption(Model):
    """Encryption at rest of what lockgate keeps that holds data (docs/encryption.md)."""

    key: str = Field(
        min_length=1,
        description="a declared secret holding a 32-byte key (64 hex digits or base64), "
        "file:PATH, or a KMS key wrapping a data key: awskms://[ENDPOINT]/KEY, "
        "gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V], "
        "azurekms://VAULT.vault.azure.net/KEY[/VERSION], hashivault://NAME",
    )
    credentials: dict[str, str] = Field(
        default_factory=dict,
        description="for a KMS key: what it needs (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
        "AWS_SESSION_TOKEN, AWS_REGION; GOOGLE_SERVICE_ACCOUNT_KEY, GOOGLE_KMS_ENDPOINT, "
        "GOOGLE_IAM_CREDENTIALS_ENDPOINT; "
        "AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST; "
        "VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE) -> the declared secret holding it",
    )
    ca_file: str | None = Field(
        None,
        min_length=1,
        description="for a KMS key: a PEM file of the CA(s) the KMS's TLS certificate must "
        "chain to, instead of the system's trust store (a private KMS or a proxy's CA); "
        "relative to the project, where a stage in a container finds it too",
    )
    stage_credentials: Literal["lent", "minted"] = Field(
        "lent",
        description="what the stages that reach the KMS themselves (an incremental or "
        "streaming ingest, train) are given: `lent`, the credentials named above; `minted`: "
        "short-lived ones made on the host before each attempt (awskms:// with role_arn: an STS "
        "session allowed only kms:Decrypt and kms:GenerateDataKey on the one key; hashivault:// "
        "with vault_policies: a child token; gcpkms://: an access token for Cloud KMS only; "
        "azurekms://: an access token for the vault)",
    )
    role_arn: str | None = Field(
        None,
        min_length=1,
        description="with stage_credentials: minted, the IAM role lockgate assumes (with the "
        "credentials above) to mint a stage's credentials: arn:aws:iam::ACCOUNT:role/NAME",
    )
    sts_endpoint: str | None = Field(
        None,
        min_length=1,
        description="with stage_credentials: minted, STS's host[:port] (default: STS's "
        "regional endpoint); HTTPS except on loopback, checked against ca_file when set",
    )
    vault_policies: tuple[str, ...] | None = Field(
        None,
        description="with stage_credentials: minted and a hashivault:// key, the Vault policies "
        "of the child token each stage attempt gets (a subset of VAULT_TOKEN's own, unless that "
        "is a root token)",
    )
    service_account: str | None = Field(
        None,
        min_length=1,
        description="with stage_credentials: minted and a gcpkms:// key, a service account "
        "(NAME@PROJECT.iam.gserviceaccount.com) the host's account impersonates "
        "(generateAccessToken) so the stage's token is that narrower account's",
    )


class Pipeline(Model):
    """A lockgate.yaml."""

    version: Literal[1] = Field(description="spec format version")
    name: StageName = Field(description="the pipeline's name: image tags, CI workflow names")
    image: Image = Field(description="the runner image every stage runs in")
    stages: dict[StageName, Stage] = Field(
        min_length=1, description="the stages, by name; order is kept where `needs` allows"
    )
    secrets: dict[str, SecretSource] = Field(
        default_factory=dict, description="secret names and where their values come from"
    )
    environments: tuple[Environment, ...] = Field(
        (), description="deployment environments in promotion order (e.g. staging, production)"
    )
    groups: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="approver groups: name -> members"
    )
    triggers: Triggers = Field(
        default_factory=lambda: Triggers(), description="what starts the pipeline in CI"
    )
    tracking_uri: str | None = Field(None, description="MLflow tracking URI (default: embedded)")
    registry: str | None = Field(None, description="OCI registry for images, e.g. REG/PROJECT")
    policy: Policy = Field(
        default_factory=lambda: Policy(),
        description="release policy: approvals, residency, the ledger",
    )
    encryption: Encryption | None = Field(
        None, description="seal cache entries, exports and ingest state with AES-256-GCM"
    )
    ci: Ci = Field(default_factory=lambda: Ci(), description="settings of the generated CI files")
