"""CiPipeline -> a GitHub Actions workflow, plus the setup script for the approval rules GitHub
keeps in its API."""

from __future__ import annotations

import json
from typing import Any, Final

from lockgate.generator import approvals
from lockgate.generator.github_steps import (
    checkout,
    download_keys,
    hosted_setup,
    run,
    setup_python,
    upload_keys,
    uses,
)
from lockgate.generator.install import pip_install
from lockgate.generator.model import (
    CACHE_DIR,
    IMAGE_JOB,
    IN_DIR,
    OUT_DIR,
    REPORT_JOB,
    TRACKING_SECRET,
    CiPipeline,
    CiStage,
)
from lockgate.generator.rendered import Rendered
from lockgate.generator.yamltext import cmap, dump, flow, header_lines

DEFAULT_OUT = ".github/workflows/lockgate.yml"
FORMAT: Final = "yaml"
HOSTED_RUNNER = "ubuntu-24.04"
GHCR = "ghcr.io"

_EVENT_IF = {
    "pull_request": "github.event_name == 'pull_request'",
    "push": "github.event_name == 'push'",
    "schedule": "github.event_name == 'schedule'",
    "data_update": "github.event_name == 'repository_dispatch' || "
    "(github.event_name == 'workflow_dispatch' && inputs.reason == 'data-update')",
    "manual": "github.event_name == 'workflow_dispatch' && inputs.reason != 'data-update'",
}


def _event_if(ci: CiPipeline, trigger: str) -> str:
    if trigger == "manual" and not ci.data_event:
        return "github.event_name == 'workflow_dispatch'"
    return _EVENT_IF[trigger]


def render(ci: CiPipeline, out: str, *, actions: str | None = None) -> tuple[Rendered, ...]:
    """``actions``: where the lockgate action set lives (``OWNER/REPO@SHA`` or ``./``); when
    given, each job calls its ``actions/stage`` instead of spelling the steps out."""
    command = approvals.regenerate_command("github", out)
    workflow = cmap(name=f"lockgate {ci.name}")
    workflow["on"] = _triggers(ci)
    workflow["permissions"] = cmap()
    # a newer push to the same pull request cancels the run it supersedes; other runs queue
    workflow["concurrency"] = cmap(
        {
            "group": "lockgate-${{ github.workflow }}-"
            "${{ github.event.pull_request.number || github.ref }}",
            "cancel-in-progress": "${{ github.event_name == 'pull_request' }}",
        }
    )
    env = _workflow_env(ci)
    if env:
        workflow["env"] = env
    jobs = cmap()
    if ci.build_image:
        jobs[IMAGE_JOB] = _image_job(ci)
    for stage in ci.stages:
        jobs[stage.job] = _stage_job(ci, stage, actions)
    jobs[REPORT_JOB] = _report_job(ci)
    workflow["jobs"] = jobs
    text = dump(workflow, header_lines(ci.spec_path, "github", command))
    files = [Rendered(out, text, FORMAT)]
    script = approvals.github_script(ci, command)
    if script:
        files.append(Rendered(approvals.script_path(out, "github"), script, "script"))
    return tuple(files)


def side_files(out: str) -> tuple[str, ...]:
    """Files written beside ``out`` only when the spec asks for them."""
    return (approvals.script_path(out, "github"),)


def _triggers(ci: CiPipeline) -> Any:
    on = cmap()
    if ci.pr_branches is not None:
        on["pull_request"] = cmap(branches=flow(list(ci.pr_branches))) if ci.pr_branches else None
    if ci.push_branches is not None:
        on["push"] = cmap(branches=flow(list(ci.push_branches))) if ci.push_branches else None
    if ci.schedules:
        on["schedule"] = [cmap(cron=c) for c in ci.schedules]
    if ci.data_event:
        on["repository_dispatch"] = cmap(types=flow([ci.data_event]))
    inputs = cmap()
    inputs["stage"] = cmap(
        description="run only this stage and what it needs (empty: every stage)",
        type="choice",
        options=flow(["", *(s.name for s in ci.stages)]),
        default="",
    )
    inputs["no_cache"] = cmap(
        description="run every stage afresh, without the stage cache", type="boolean", default=False
    )
    if ci.data_event:
        inputs["reason"] = cmap(
            description="why this run: a manual run or a data update",
            type="choice",
            options=flow(["manual", "data-update"]),
            default="manual",
        )
        inputs["dataset"] = cmap(
            description="the dataset that changed (data updates)", type="string", default=""
        )
    on["workflow_dispatch"] = cmap(inputs=inputs)
    return on


def _workflow_env(ci: CiPipeline) -> Any:
    env = cmap()
    if ci.data_event:
        env["LOCKGATE_DATA_UPDATE"] = (
            "${{ github.event.client_payload.dataset || inputs.dataset || '' }}"
        )
    return env


def _spec_flag(ci: CiPipeline) -> str:
    return "" if ci.spec_path == "lockgate.yaml" else f" --spec {ci.spec_path}"


# A pull request from a fork (or from Dependabot) gets a GITHUB_TOKEN that cannot write packages:
# the image job then builds in the job, pushes nothing and outputs no image.
NO_WRITE_TOKEN = (
    "github.event_name == 'pull_request' && (github.event.pull_request.head.repo.full_name != "
    "github.repository || github.actor == 'dependabot[bot]')"
)
READ_ONLY_FLAG = "${{ (" + NO_WRITE_TOKEN + ") && '--read-only' || '' }}"


def _on_ghcr(ci: CiPipeline) -> bool:
    """Whether the runner image lives in GitHub's registry, where ``GITHUB_TOKEN`` (with the
    ``packages`` permission) signs in; any other registry takes the repository's secrets."""
    return ci.registry is None or ci.registry.split("/", 1)[0].lower() == GHCR


def _registry_login(ci: CiPipeline) -> tuple[str, str]:
    if _on_ghcr(ci):
        return "${{ github.actor }}", "${{ secrets.GITHUB_TOKEN }}"
    return "${{ secrets.LOCKGATE_REGISTRY_USER }}", "${{ secrets.LOCKGATE_REGISTRY_PASSWORD }}"


def _image_job(ci: CiPipeline) -> Any:
    registry = ci.registry or f"{GHCR}/${{{{ github.repository }}}}"
    job = cmap(name="runner image")
    job["runs-on"] = HOSTED_RUNNER
    job["permissions"] = cmap(contents="read")
    if _on_ghcr(ci):
        job["permissions"]["packages"] = "write"
    job["outputs"] = cmap(image="${{ steps.image.outputs.image }}")
    login = run("Log in to the registry", f"lockgate ci login --registry {registry}")
    user, password = _registry_login(ci)
    login["env"] = cmap(LOCKGATE_REGISTRY_USER=user, LOCKGATE_REGISTRY_PASSWORD=password)
    job["steps"] = [
        checkout(),
        setup_python(),
        run("Install lockgate", pip_install(ci.install)),
        login,
        run(
            "Build and push the runner image",
            f"lockgate ci image{_spec_flag(ci)} --push {registry}/{ci.name}-runner "
            f"--bootstrap-base {READ_ONLY_FLAG} --output github",
            id="image",
        ),
    ]
    return job


def _stage_job(ci: CiPipeline, stage: CiStage, actions: str | None) -> Any:
    job = cmap(name=stage.name)
    needs = ([IMAGE_JOB] if ci.build_image else []) + [ci.stage(n).job for n in stage.needs]
    if needs:
        job["needs"] = flow(needs)
    conditions = []
    if not stage.runs_always:
        events = [t for t in stage.when if ci.has_trigger(t)]
        conditions.append(" || ".join(f"({_event_if(ci, t)})" for t in events))
    conditions.append(_dispatch_if(ci, stage))
    if ci.build_image:  # empty when a read-only image job built without pushing
        conditions.append(f"needs.{IMAGE_JOB}.outputs.image != ''")
    job["if"] = " && ".join(f"({c})" for c in conditions) if len(conditions) > 1 else conditions[0]
    job["runs-on"] = _runs_on(stage)
    job["permissions"] = _permissions(ci, stage)
    if stage.gate:
        job["environment"] = cmap(name=stage.gate.environment, url=stage.gate.url)
        job["concurrency"] = cmap(
            {"group": f"lockgate-{stage.gate.environment}", "cancel-in-progress": False}
        )
    if stage.timeout_minutes:
        job["timeout-minutes"] = stage.timeout_minutes
    if ci.build_image:
        container = cmap(image="${{ needs." + IMAGE_JOB + ".outputs.image }}")
        user, password = _registry_login(ci)
        container["credentials"] = cmap(username=user, password=password)
        if stage.gpu:
            container["options"] = "--gpus all"
        job["container"] = container
    steps = _action_steps(ci, stage, actions) if actions else _steps(ci, stage)
    if not ci.build_image and job["runs-on"] == HOSTED_RUNNER:
        steps[1:1] = hosted_setup(ci, stage)
    job["steps"] = steps
    return job


def _runs_on(stage: CiStage) -> Any:
    if stage.scale_set:
        return stage.scale_set
    if stage.labels:
        labels = list(stage.labels)
        return flow(labels if labels[0] == "self-hosted" else ["self-hosted", *labels])
    return HOSTED_RUNNER


def _permissions(ci: CiPipeline, stage: CiStage) -> Any:
    perms = cmap(contents="read")
    if stage.signs:
        perms["id-token"] = "write"  # keyless signing; signatures go to the registry
    if ci.build_image and _on_ghcr(ci):
        perms["packages"] = "read"  # to pull the runner image
    if stage.scans:
        perms["security-events"] = "write"
    return perms


def _run_command(ci: CiPipeline, stage: CiStage) -> str:
    return (
        f"lockgate run{_spec_flag(ci)} --stage {stage.name} --only --executor local "
        f"--upstream-dir {IN_DIR} --export-dir {OUT_DIR}"
    )


def _secret_env(stage: CiStage) -> Any:
    env = cmap({name: "${{ secrets." + name + " }}" for name in stage.secrets})
    if stage.tracks:
        env[TRACKING_SECRET] = "${{ secrets." + TRACKING_SECRET + " }}"
    return env or None


def _dispatch_if(ci: CiPipeline, stage: CiStage) -> str:
    """A manual run for one stage runs that stage and its upstreams, nothing downstream."""
    wanted = [s.name for s in ci.stages if s.name == stage.name or stage.name in ci.upstreams(s)]
    if len(wanted) == 1:
        picked = f"inputs.stage == '{wanted[0]}'"
    else:
        picked = f"contains(fromJSON('{json.dumps(wanted)}'), inputs.stage)"
    return f"github.event_name != 'workflow_dispatch' || inputs.stage == '' || {picked}"


def _report_job(ci: CiPipeline) -> Any:
    """After every stage, pass or fail: one PR comment kept up to date, and the job summary.
    Stages that wait for an approval (or follow one) are left out: the report never waits
    for a person."""
    ungated = list(ci.reported())
    job = cmap(name="report")
    job["needs"] = flow([s.job for s in ungated])
    job["if"] = "always()"
    job["runs-on"] = HOSTED_RUNNER
    job["permissions"] = cmap({"contents": "read", "pull-requests": "write"})
    job["continue-on-error"] = True  # a refused comment never changes the pipeline's verdict
    download = uses(cmap(name="Download every stage's outputs"), "actions/download-artifact")
    download["with"] = cmap(pattern="lockgate-*", path=".lockgate/artifacts")
    stages = " ".join(s.name for s in ungated)
    gather = run(
        "Gather them by stage",
        f'lockgate ci inputs --needs "{stages}" --from .lockgate/artifacts --to {IN_DIR} --present',
    )
    post = run(
        "Post the report",
        f"lockgate report {IN_DIR}"
        + "".join(f" --stage {s.name}" for s in ungated)
        + ' --title "lockgate ${{ github.workflow }}" --github-summary --post github'
        + " --output report.md",
    )
    post["env"] = cmap(GITHUB_TOKEN="${{ secrets.GITHUB_TOKEN }}")
    install = run("Install lockgate", pip_install(ci.install))
    # checked out too, so an install from a directory of the repository works here as well
    job["steps"] = [checkout(), setup_python(), install, download, gather, post]
    return job


def _steps(ci: CiPipeline, stage: CiStage) -> list[Any]:
    steps = [checkout()]
    for need in stage.needs:
        step = uses(cmap(name=f"Download the outputs of {need}"), "actions/download-artifact")
        step["with"] = cmap(name=f"lockgate-{need}", path=f"{IN_DIR}/{need}")
        steps.append(step)
        if ci.wrapped_keys:
            steps.append(download_keys(need))
    if stage.cache:
        steps.append(
            run(
                "Compute the cache key",
                f"lockgate ci cache-key {stage.name}{_spec_flag(ci)} "
                f"--upstream-dir {IN_DIR} --output github",
                id="cache-key",
                **{"if": "${{ !inputs.no_cache }}"},
            )
        )
        cache = uses(
            cmap({"name": "Stage cache", "if": "${{ !inputs.no_cache }}"}), "actions/cache"
        )
        cache["with"] = cmap(
            path=ci.cache_dir, key=f"lockgate-{stage.name}-${{{{ steps.cache-key.outputs.key }}}}"
        )
        steps.append(cache)
    stage_step = run(f"Run stage {stage.name}", _run_command(ci, stage))
    env = _secret_env(stage)
    if env:
        stage_step["env"] = env
    steps.append(stage_step)
    steps.append(_summary(stage))
    upload = uses(cmap({"name": "Upload the outputs", "if": "always()"}), "actions/upload-artifact")
    upload["with"] = cmap(
        {
            "name": f"lockgate-{stage.name}",
            "path": f"{OUT_DIR}/{stage.name}/",
            "if-no-files-found": "warn",
            # a sealed folder's index (.lockgate-sealed) is a hidden file, which
            # upload-artifact (since v4.4.0) leaves out unless told
            "include-hidden-files": True,
        }
    )
    steps.append(upload)
    if ci.wrapped_keys:
        steps.append(upload_keys(stage))
    if stage.scans:
        steps.append(_sarif(stage))
    return steps


def _summary(stage: CiStage) -> Any:
    return run(
        "Job summary",
        f"lockgate ci summary {stage.name} --export-dir {OUT_DIR} --output github",
        **{"if": "always()"},
    )


def _sarif(stage: CiStage) -> Any:
    sarif = uses(
        cmap({"name": "Upload the scan to code scanning", "if": "always()"}),
        "github/codeql-action/upload-sarif",
    )
    sarif["with"] = cmap(sarif_file=f"{OUT_DIR}/{stage.name}/", category=f"lockgate-{stage.name}")
    return sarif


def _action_steps(ci: CiPipeline, stage: CiStage, actions: str) -> list[Any]:
    if actions.startswith("./"):
        ref = f"{actions.rstrip('/')}/actions/stage"
    else:
        repo, _, sha = actions.partition("@")
        ref = f"{repo}/actions/stage@{sha}"
    step = cmap(name=f"Run stage {stage.name}", uses=ref)
    step["with"] = cmap(
        stage=stage.name,
        needs=" ".join(stage.needs) or None,
        spec=ci.spec_path if ci.spec_path != "lockgate.yaml" else None,
        cache="${{ !inputs.no_cache }}" if stage.cache else "false",
    )
    if stage.cache and ci.cache_dir != CACHE_DIR:
        step["with"]["cache-dir"] = ci.cache_dir
    env = _secret_env(stage)
    if env:
        step["env"] = env
    steps = [checkout(), step]
    if stage.scans:
        steps.append(_sarif(stage))
    return steps
