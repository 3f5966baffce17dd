"""One provider-neutral model of the CI jobs a spec needs.

Every renderer (GitHub, GitLab, Jenkins) reads only these records; the spec's cross-stage rules
that matter for CI (trigger subsets, approvers that resolve to people) are checked here once.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lockgate.engine.kms.envelope import KEYS as WRAPPED_KEYS_FOLDER
from lockgate.errors import LockgateError
from lockgate.spec.keys import is_envelope

if TYPE_CHECKING:
    from lockgate.spec.models import Environment, Pipeline

TRIGGERS = ("pull_request", "push", "schedule", "data_update", "manual")
JOB_PREFIX = "lockgate-"  # a stage's job: lockgate-<stage>
# Jobs the generator adds itself live under "lockgate--", which no stage job can have (a stage
# name starts with a letter or digit), so a stage named image or report never replaces them.
GENERATED_PREFIX = "lockgate--"
IMAGE_JOB = GENERATED_PREFIX + "image"  # builds the runner image every stage job runs in
REPORT_JOB = GENERATED_PREFIX + "report"  # one report for the PR/MR and the job summary
OUT_DIR = ".lockgate/out"
IN_DIR = ".lockgate/in"
CACHE_DIR = ".lockgate/cache"
# where `lockgate run --export-dir OUT_DIR` keeps the wrapped data keys of a KMS key
WRAPPED_KEYS = f"{OUT_DIR}/{WRAPPED_KEYS_FOLDER}"
# GitHub: the artifact that carries a stage's wrapped data keys (a stage's own is lockgate-NAME)
KEYS_ARTIFACT = GENERATED_PREFIX + "keys-"
DEFAULT_GPU_LABELS = ("self-hosted", "linux", "gpu")
SIGNING_STAGES = {"lockgate/sign"}
SCANNING_STAGES = {"lockgate/scan"}
TRACKING_STAGES = {"lockgate/train", "lockgate/evaluate", "lockgate/package"}
# The CI secret/variable that names the team's tracking server: with it, evaluation in CI
# compares against the champion that earlier pipelines registered there.
TRACKING_SECRET = "MLFLOW_TRACKING_URI"


class GenerateError(LockgateError):
    """The spec cannot be turned into CI files as it stands."""


@dataclass(frozen=True)
class Gate:
    """A deployment environment and who may let a change into it."""

    environment: str
    approvers: tuple[str, ...]  # users, groups expanded
    required_approvals: int
    four_eyes: bool
    tier: str
    url: str | None

    @property
    def waits(self) -> bool:
        """Whether a person must let the job through: ``required_approvals: 0`` means no
        approval step on any provider (GitHub: no reviewers; GitLab: not manual; Jenkins: no
        ``input``)."""
        return self.required_approvals > 0


@dataclass(frozen=True)
class CiStage:
    name: str
    needs: tuple[str, ...]
    when: tuple[str, ...]
    level: int  # longest path from a root; stages of one level may run in parallel
    labels: tuple[str, ...]  # self-hosted runner labels / tags / agent labels; () = hosted
    scale_set: str | None
    gpu: bool
    gate: Gate | None
    cache: bool
    signs: bool
    scans: bool
    timeout_minutes: int | None
    retries: int
    secrets: tuple[str, ...]  # environment variable names the stage reads its secrets from
    tracks: bool = False  # reads or writes the tracking server (train, evaluate, package)
    # The stage's image recipe, paths from the repository root: what a job that runs without
    # the runner image (shell mode on a hosted runner) installs itself.
    requirements: str | None = None  # pip requirements file
    os_packages: tuple[str, ...] = ()  # apt packages
    dockerfile: str | None = None  # built from a Dockerfile: nothing a job can install itself
    image_field: str = "image"  # where the spec gives that recipe

    @property
    def job(self) -> str:
        return JOB_PREFIX + self.name

    @property
    def runs_always(self) -> bool:
        return set(TRIGGERS) <= set(self.when)


@dataclass(frozen=True)
class CiPipeline:
    name: str
    spec_path: str  # relative to the repository root, posix
    stages: tuple[CiStage, ...]  # topological order, ties by name
    pr_branches: tuple[str, ...] | None  # None: no pull-request trigger; (): all branches
    push_branches: tuple[str, ...] | None
    schedules: tuple[str, ...]
    data_event: str | None
    gates: tuple[Gate, ...]
    registry: str | None
    build_image: bool  # False: jobs run on runners that already have lockgate (shell mode)
    install: str | None = None  # --install SOURCE (generator/install.py); None: this version
    pinned_images: tuple[str, ...] = ()  # ci.images: NAME:TAG@sha256:... (public_images.py)
    # encryption.key is a KMS key: each job's export folder keeps the data key its outputs are
    # sealed with, wrapped, in WRAPPED_KEYS, and the next job needs it to open them
    wrapped_keys: bool = False

    @property
    def cache_dir(self) -> str:
        """The stage cache as CI jobs see it from the repository root: lockgate keeps it in
        ``.lockgate/`` beside the spec, wherever in the repository the spec is."""
        folder = posixpath.dirname(self.spec_path)
        return posixpath.join(folder, CACHE_DIR) if folder else CACHE_DIR

    def has_trigger(self, trigger: str) -> bool:
        """Whether the pipeline runs on ``trigger`` at all (manual runs always exist)."""
        return {
            "pull_request": self.pr_branches is not None,
            "push": self.push_branches is not None,
            "schedule": bool(self.schedules),
            "data_update": self.data_event is not None,
        }.get(trigger, True)

    @property
    def default_branch(self) -> str:
        return self.push_branches[0] if self.push_branches else "main"

    def image(self, image: str) -> str:
        """How the files name the public image ``image`` (``NAME:TAG``): by digest when the
        spec pins it, otherwise by its floating tag."""
        return next((p for p in self.pinned_images if p.partition("@")[0] == image), image)

    def stage(self, name: str) -> CiStage:
        return next(s for s in self.stages if s.name == name)

    def reported(self) -> tuple[CiStage, ...]:
        """The stages the report job waits for: all but those that wait for a person's
        approval, directly or through an upstream."""
        return tuple(
            s
            for s in self.stages
            if not any(
                (g := self.stage(n).gate) is not None and g.waits
                for n in (s.name, *self.upstreams(s))
            )
        )

    def upstreams(self, stage: CiStage) -> set[str]:
        """Every stage ``stage`` needs, directly or through others."""
        found: set[str] = set()
        todo = list(stage.needs)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(self.stage(name).needs)
        return found


def build_model(
    pipeline: Pipeline,
    *,
    spec_path: str = "lockgate.yaml",
    build_image: bool = True,
    install: str | None = None,
) -> CiPipeline:
    """``Pipeline`` -> ``CiPipeline``; raises :class:`GenerateError` naming the field to fix."""
    gates = {env.name: _gate(pipeline, env) for env in pipeline.environments}
    levels = _levels({n: tuple(s.needs) for n, s in pipeline.stages.items()})
    order = sorted(pipeline.stages, key=lambda n: (levels[n], n))
    spec_dir = posixpath.dirname(spec_path)
    stages = tuple(_stage(pipeline, name, levels[name], gates, spec_dir) for name in order)
    _check_triggers(pipeline)
    triggers = pipeline.triggers
    ci = CiPipeline(
        name=pipeline.name,
        spec_path=spec_path,
        stages=stages,
        pr_branches=None
        if triggers.pull_request is None
        else tuple(triggers.pull_request.branches),
        push_branches=None if triggers.push is None else tuple(triggers.push.branches),
        schedules=tuple(s.cron for s in triggers.schedule),
        data_event=None if triggers.data_update is None else triggers.data_update.event,
        gates=tuple(gates[e.name] for e in pipeline.environments),
        registry=pipeline.registry,
        build_image=build_image,
        install=install,
        pinned_images=pipeline.ci.images,
        wrapped_keys=pipeline.encryption is not None and is_envelope(pipeline.encryption.key),
    )
    for stage in ci.stages:
        if not any(ci.has_trigger(t) for t in stage.when):
            listed = ", ".join(stage.when) or "nothing"
            raise GenerateError(
                f"stages.{stage.name}.when: lists {listed}, none of which is a trigger of this "
                f"pipeline, so CI would never run it; add the trigger under `triggers` or add "
                f"`manual` to stages.{stage.name}.when"
            )
    return ci


def _gate(pipeline: Pipeline, env: Environment) -> Gate:
    people: list[str] = []
    for approver in env.approvers:
        members = pipeline.groups.get(approver[1:], ()) if approver.startswith("@") else (approver,)
        people.extend(m for m in members if m not in people)
    if env.required_approvals and not people:
        raise GenerateError(
            f"environments.{env.name}: requires {env.required_approvals} approval(s) but its "
            "approvers resolve to nobody; add users to `approvers` or to the named `groups`"
        )
    if env.required_approvals > len(people):
        raise GenerateError(
            f"environments.{env.name}: requires {env.required_approvals} approval(s) but only "
            f"{len(people)} approver(s) are listed; add approvers or lower `required_approvals`"
        )
    tier = env.deployment_tier or ("production" if env.name.startswith("prod") else "other")
    return Gate(env.name, tuple(people), env.required_approvals, env.four_eyes, tier, env.url)


def _stage(
    pipeline: Pipeline, name: str, level: int, gates: dict[str, Gate], spec_dir: str
) -> CiStage:
    stage = pipeline.stages[name]
    image = stage.image or pipeline.image
    runner = stage.runner
    gpu = stage.gpu == "all" or stage.gpu > 0
    labels = tuple(runner.labels) if runner else ()
    if gpu and not labels and not (runner and runner.scale_set):
        labels = DEFAULT_GPU_LABELS
    names = set(stage.secrets)
    if pipeline.encryption and pipeline.encryption.key in pipeline.secrets:
        names.add(pipeline.encryption.key)  # every job seals its outputs and opens its inputs
    if pipeline.encryption:  # a KMS key: what every job needs to have its data key (un)wrapped
        names.update(pipeline.encryption.credentials.values())
    secrets = tuple(sorted(env for s in names if (env := pipeline.secrets[s].env) is not None))
    return CiStage(
        name=name,
        needs=tuple(sorted(stage.needs)),
        when=tuple(t for t in TRIGGERS if t in stage.when),
        level=level,
        labels=labels,
        scale_set=runner.scale_set if runner else None,
        gpu=gpu,
        gate=gates[stage.environment] if stage.environment else None,
        cache=stage.cache,
        signs=stage.uses in SIGNING_STAGES,
        scans=stage.uses in SCANNING_STAGES,
        tracks=stage.uses in TRACKING_STAGES,
        timeout_minutes=None if stage.timeout is None else -(-stage.timeout // 60),
        retries=stage.retries,
        secrets=secrets,
        requirements=_from_root(spec_dir, image.requirements),
        os_packages=tuple(sorted(image.packages)),
        dockerfile=_from_root(spec_dir, image.dockerfile),
        image_field=f"stages.{name}.image" if stage.image else "image",
    )


def _from_root(spec_dir: str, path: str | None) -> str | None:
    """A path of the spec (relative to its folder) as CI jobs see it, from the repository root."""
    return None if path is None else posixpath.normpath(posixpath.join(spec_dir, path))


def _check_triggers(pipeline: Pipeline) -> None:
    """A CI job can only read an upstream's outputs if the upstream ran for the same event."""
    for name, stage in pipeline.stages.items():
        for need in stage.needs:
            missing = [t for t in stage.when if t not in pipeline.stages[need].when]
            if missing:
                raise GenerateError(
                    f"stages.{name}.when: runs on {', '.join(missing)} but its upstream "
                    f"{need!r} does not; add {', '.join(missing)} to stages.{need}.when or "
                    f"remove it from stages.{name}.when"
                )


def _levels(graph: dict[str, tuple[str, ...]]) -> dict[str, int]:
    levels: dict[str, int] = {}

    def level(node: str) -> int:
        if node not in levels:
            levels[node] = 1 + max((level(n) for n in graph[node]), default=-1)
        return levels[node]

    for node in graph:
        level(node)
    return levels
