"""CiPipeline -> .gitlab-ci.yml (plus the settings script for protected environments,
schedules and the data-update trigger token)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from lockgate.generator import approvals
from lockgate.generator.install import pip_install
from lockgate.generator.model import (
    IMAGE_JOB,
    OUT_DIR,
    REPORT_JOB,
    WRAPPED_KEYS,
    CiPipeline,
    CiStage,
)
from lockgate.generator.public_images import BUILDER, DIND
from lockgate.generator.rendered import Rendered
from lockgate.generator.yamltext import cmap, dump, flow, header_lines

DEFAULT_OUT = ".gitlab-ci.yml"
FORMAT: Final = "yaml"
STAGE_TEMPLATE = ".lockgate-stage"
REPORT_TEMPLATE = ".lockgate-report"
IMAGE_TEMPLATE = ".lockgate-image"
IMAGE_STAGE = "lockgate-build"
REPORT_STAGE = "lockgate-report"
SIGSTORE_AUDIENCE = "sigstore"
DOTENV = "lockgate-image.env"

_DATA_SOURCES = (
    '($CI_PIPELINE_SOURCE == "trigger" || $CI_PIPELINE_SOURCE == "api" || '
    '$CI_PIPELINE_SOURCE == "web")'
)


def _source_if(trigger: str, event: str) -> str:
    """The ``rules: if:`` of a schedule, data-update (``event``) or manual pipeline."""
    if trigger == "schedule":
        return '$CI_PIPELINE_SOURCE == "schedule"'
    if trigger == "data_update":
        return f"{_DATA_SOURCES} && $LOCKGATE_EVENT {_equals(event)}"
    return f'$CI_PIPELINE_SOURCE == "web" && $LOCKGATE_EVENT {_equals(event, negate=True)}'


def render(
    ci: CiPipeline, out: str, *, component: str | None = None, **_: Any
) -> tuple[Rendered, ...]:
    """``component``: ``HOST/PATH/lockgate@VERSION``; when given, the hidden jobs come from that
    CI/CD component (``include: component:``) instead of being written out here."""
    command = approvals.regenerate_command("gitlab", out)
    doc = cmap()
    if component:
        inputs = cmap(spec=ci.spec_path)
        if ci.build_image:
            inputs["image-name"] = _image_name(ci)
            inputs["builder-image"] = ci.image(BUILDER.image)
            inputs["dind-image"] = ci.image(DIND.image)
        doc["include"] = [cmap(component=component, inputs=inputs)]
    doc["workflow"] = cmap(rules=[cmap({"if": cond}) for cond in _pipeline_rules(ci)])
    doc["variables"] = _variables(ci)
    doc["stages"] = _stages(ci)
    if not component:
        doc.update(hidden_jobs(build_image=ci.build_image, install=ci.install, image=ci.image))
    if ci.build_image:
        doc[IMAGE_JOB] = _image_job(ci)
    for stage in ci.stages:
        doc[stage.job] = _stage_job(ci, stage)
    doc[REPORT_JOB] = _report_job(ci)
    files = [Rendered(out, dump(doc, header_lines(ci.spec_path, "gitlab", command)), FORMAT)]
    script = approvals.gitlab_script(ci, command)
    if script:
        files.append(Rendered(approvals.script_path(out, "gitlab"), script, "script"))
    return tuple(files)


def side_files(out: str) -> tuple[str, ...]:
    """Files written beside ``out`` only when the spec asks for them."""
    return (approvals.script_path(out, "gitlab"),)


def hidden_jobs(
    *,
    build_image: bool,
    install: str | None = None,
    image: Callable[[str], str] = str,
) -> Any:
    """The jobs every generated job ``extends``; also shipped as gitlab-templates/lockgate.yml.
    They read ``LOCKGATE_SPEC`` (and ``LOCKGATE_IMAGE_NAME``) from the pipeline's variables.
    ``image`` names a public image (``NAME:TAG``) as the files should: by digest when pinned."""
    jobs = cmap()
    if build_image:
        # The job's image and its Docker engine service are variables so that a site with a
        # registry mirror sets them once (a project CI/CD variable, or the variables of a job that
        # extends this one, override these defaults). GitLab expands a variable in a service's
        # name but not in its alias, and derives the alias from the expanded name, so the alias
        # is fixed: DOCKER_HOST reaches the engine whatever registry path the image comes from.
        dind = cmap(name="$LOCKGATE_DIND_IMAGE", alias="docker")
        job = cmap(image="$LOCKGATE_BUILDER_IMAGE", services=[dind])
        job["variables"] = cmap(
            LOCKGATE_BUILDER_IMAGE=image(BUILDER.image),
            LOCKGATE_DIND_IMAGE=image(DIND.image),
            DOCKER_HOST="tcp://docker:2375",
            DOCKER_TLS_CERTDIR="",
            LOCKGATE_REGISTRY_USER="$CI_REGISTRY_USER",
            LOCKGATE_REGISTRY_PASSWORD="$CI_REGISTRY_PASSWORD",
        )
        job["before_script"] = [pip_install(install, quote='"')]
        job["script"] = [
            # the registry the image goes to: GitLab's own (CI_REGISTRY_* sign in), or the
            # spec's `registry`, with LOCKGATE_REGISTRY_USER/_PASSWORD set as CI/CD variables
            'lockgate ci login --registry "$LOCKGATE_IMAGE_NAME"',
            f'lockgate ci image --spec "$LOCKGATE_SPEC" --push "$LOCKGATE_IMAGE_NAME" '
            f"--bootstrap-base --output dotenv={DOTENV}",
        ]
        job["artifacts"] = cmap(reports=cmap(dotenv=DOTENV))
        # Not interruptible by default would stop GitLab from cancelling the whole superseded
        # pipeline once this first job started; a half-built image is simply built again.
        job["interruptible"] = True
        jobs[IMAGE_TEMPLATE] = job
    stage = cmap()
    stage["interruptible"] = True  # a newer pipeline for the same MR cancels this one
    stage["script"] = [
        'lockgate run --spec "$LOCKGATE_SPEC" --stage "$LOCKGATE_STAGE_NAME" --only '
        f"--executor local --upstream-dir {OUT_DIR} --export-dir {OUT_DIR}"
    ]
    # The report reaches people as the job's exposed artifact (expose_as), kept on failure too.
    jobs[STAGE_TEMPLATE] = stage
    report = cmap(stage=REPORT_STAGE, when="always", allow_failure=True, interruptible=True)
    report["script"] = [
        'lockgate report "$LOCKGATE_REPORT_DIR" $LOCKGATE_REPORT_STAGES --post gitlab '
        '--artifact-url "$CI_JOB_URL/artifacts/raw/$LOCKGATE_REPORT_DIR" --output report.md'
    ]
    report["artifacts"] = cmap(
        when="always", expose_as="lockgate report", paths=["report.md", f"{OUT_DIR}/"]
    )
    jobs[REPORT_TEMPLATE] = report
    return jobs


def _pipeline_rules(ci: CiPipeline) -> list[str]:
    rules = []
    if ci.pr_branches is not None:
        rules += _mr_rules(ci.pr_branches)
    if ci.push_branches is not None:
        rules += _push_rules(ci.push_branches)
    if ci.schedules:
        rules.append(_source_if("schedule", ""))
    if ci.data_event:
        rules.append(_source_if("data_update", ci.data_event))
    rules.append('$CI_PIPELINE_SOURCE == "web"')
    return rules


def _mr_rules(branches: tuple[str, ...]) -> list[str]:
    mr = '$CI_PIPELINE_SOURCE == "merge_request_event"'
    if not branches:
        return [mr]
    return [
        f"{mr} && $CI_MERGE_REQUEST_TARGET_BRANCH_NAME {_equals(b, glob=True)}" for b in branches
    ]


def _push_rules(branches: tuple[str, ...]) -> list[str]:
    push = '$CI_PIPELINE_SOURCE == "push"'
    if not branches:
        return [push]
    return [f"{push} && $CI_COMMIT_BRANCH {_equals(b, glob=True)}" for b in branches]


def _equals(value: str, *, negate: bool = False, glob: bool = False) -> str:
    """The right-hand side of a ``rules: if:`` comparison with ``value``: ``== "NAME"``, or for
    a branch glob (``release/*``, ``feature/**``, as GitHub and Jenkins read them) ``=~`` a
    regular expression: ``*`` any characters but ``/``, ``**`` any characters. GitLab's string
    literals have no escapes, so a value holding a double quote is single-quoted, or matched as
    a regular expression when it holds both quotes. ``negate``: ``!=`` / ``!~``."""
    if not (glob and "*" in value):
        op = "!=" if negate else "=="
        if '"' not in value:
            return f'{op} "{value}"'
        if "'" not in value:
            return f"{op} '{value}'"
    pattern = "".join(
        ".*" if glob and part == "**" else "[^\\/]*" if glob and part == "*" else _re_literal(part)
        for part in re.split(r"(\*\*|\*)", value)
    )
    return f"{'!~' if negate else '=~'} /^{pattern}$/"


def _re_literal(text: str) -> str:
    """``text`` matched literally in an RE2 pattern between slashes."""
    return "".join(c if c.isalnum() or c == "_" else "\\" + c for c in text)


def _variables(ci: CiPipeline) -> Any:
    variables = cmap(LOCKGATE_SPEC=ci.spec_path)
    if ci.build_image:
        variables["LOCKGATE_IMAGE_NAME"] = _image_name(ci)
    variables["LOCKGATE_EVENT"] = cmap(
        value="", description=f"set to {ci.data_event or 'data-update'} for a data-update run"
    )
    variables["LOCKGATE_DATASET"] = cmap(value="", description="the dataset that changed")
    return variables


def _image_name(ci: CiPipeline) -> str:
    return ci.registry + f"/{ci.name}-runner" if ci.registry else "$CI_REGISTRY_IMAGE/runner"


def _stages(ci: CiPipeline) -> Any:
    levels = sorted({s.level for s in ci.stages})
    stages = [f"lockgate-{n}" for n in levels] + [REPORT_STAGE]
    return ([IMAGE_STAGE] if ci.build_image else []) + stages


def _report_job(ci: CiPipeline) -> Any:
    """After the stages, pass or fail: the MR's one lockgate note, updated on each pipeline.
    Stages that wait for an approval (or follow one) are left out: the report never waits
    for a person."""
    job = cmap(extends=REPORT_TEMPLATE)
    if ci.build_image:
        job["image"] = "$LOCKGATE_IMAGE"
    needs = [cmap(job=IMAGE_JOB)] if ci.build_image else []
    needs += [cmap(job=s.job, optional=True) for s in ci.reported()]
    job["needs"] = needs
    ungated = " ".join(f"--stage {s.name}" for s in ci.reported())
    job["variables"] = cmap(LOCKGATE_REPORT_DIR=OUT_DIR, LOCKGATE_REPORT_STAGES=ungated)
    return job


def _image_job(ci: CiPipeline) -> Any:
    return cmap(extends=IMAGE_TEMPLATE, stage=IMAGE_STAGE)


def _job_rules(ci: CiPipeline, stage: CiStage) -> list[Any] | None:
    conditions: list[str] = []
    for trigger in stage.when:
        if trigger == "pull_request" and ci.pr_branches is not None:
            conditions += _mr_rules(ci.pr_branches)
        elif trigger == "push" and ci.push_branches is not None:
            conditions += _push_rules(ci.push_branches)
        elif trigger != "pull_request" and trigger != "push" and ci.has_trigger(trigger):
            conditions.append(_source_if(trigger, ci.data_event or "data-update"))
    manual = stage.gate is not None and stage.gate.waits
    if stage.runs_always:
        if not manual:
            return None
        conditions = []
    when = "manual" if manual else None
    if not conditions:
        return [cmap(when=when)]
    return [cmap({"if": c, "when": when}) for c in conditions]


def _stage_job(ci: CiPipeline, stage: CiStage) -> Any:
    job = cmap(extends=STAGE_TEMPLATE, stage=f"lockgate-{stage.level}")
    if ci.build_image:
        job["image"] = "$LOCKGATE_IMAGE"
    needs = ([IMAGE_JOB] if ci.build_image else []) + [ci.stage(n).job for n in stage.needs]
    job["needs"] = flow(needs)
    job["variables"] = cmap(LOCKGATE_STAGE_NAME=stage.name)
    tags = [stage.scale_set] if stage.scale_set else list(stage.labels)
    if tags:
        job["tags"] = flow([t for t in tags if t != "self-hosted"] or tags)
    rules = _job_rules(ci, stage)
    if rules:
        job["rules"] = rules
    if stage.gate:
        gate = stage.gate
        job["allow_failure"] = False
        job["environment"] = cmap(name=gate.environment, url=gate.url)
        job["environment"]["deployment_tier"] = gate.tier
        job["resource_group"] = gate.environment
        job["interruptible"] = False  # a deployment is never cancelled half-way
    if stage.signs:
        # keyless signing: cosign reads the OIDC token GitLab puts in SIGSTORE_ID_TOKEN
        job["id_tokens"] = cmap(SIGSTORE_ID_TOKEN=cmap(aud=SIGSTORE_AUDIENCE))
    if stage.cache:
        job["cache"] = cmap(key=f"lockgate-{stage.name}", paths=[f"{ci.cache_dir}/"])
    paths = [f"{OUT_DIR}/{stage.name}/"]
    if ci.wrapped_keys:  # the next job opens the sealed outputs with the data key wrapped here
        paths.append(f"{WRAPPED_KEYS}/")
    job["artifacts"] = cmap(when="always", expose_as=f"lockgate {stage.name}", paths=paths)
    if stage.scans:
        folder = f"{OUT_DIR}/{stage.name}"
        job["artifacts"]["reports"] = cmap(
            container_scanning=f"{folder}/gl-container-scanning-report.json",
            cyclonedx=[f"{folder}/sbom.cdx.json"],
        )
    if stage.timeout_minutes:
        job["timeout"] = f"{stage.timeout_minutes} minutes"
    if stage.retries:
        job["retry"] = min(stage.retries, 2)
    return job
