"""CiPipeline -> a declarative Jenkinsfile that calls the lockgate shared library.

Stages of one DAG level run in a ``parallel`` block, so fan-out/fan-in keeps its shape. Outputs
travel with stash/unstash inside ``lockgateStage``; environments become a stage-level ``input``
(submitters from the spec), a ``lock`` per environment and a ``timeout`` on the wait.
"""

from __future__ import annotations

from typing import Any, Final

import lockgate
from lockgate.generator.model import GENERATED_PREFIX, IMAGE_JOB, CiPipeline, CiStage
from lockgate.generator.rendered import Rendered
from lockgate.generator.yamltext import header_lines

DEFAULT_OUT = "Jenkinsfile"
FORMAT: Final = "groovy"
BEGIN = "// >>> lockgate: rewritten by `lockgate generate jenkins`; edit outside these markers"
END = "// <<< lockgate"
# the shared library at the tag of this lockgate release, so a library change never reaches a
# pipeline generated for another release (register it once: docs/ci.md, "Jenkins")
LIBRARY = f"lockgate@v{lockgate.__version__}"
APPROVAL_HOURS = 72
IMAGE_AGENT = "docker"


def q(text: str) -> str:
    """A Groovy single-quoted string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def glist(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(q(i) for i in items) + "]"


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def line(self, text: str = "") -> None:
        self.lines.append(("    " * self.depth + text) if text else "")

    def open(self, text: str) -> None:
        self.line(text + " {")
        self.depth += 1

    def close(self) -> None:
        self.depth -= 1
        self.line("}")


def side_files(out: str) -> tuple[str, ...]:
    """Jenkins keeps everything in the Jenkinsfile: no file beside it."""
    return ()


def render(ci: CiPipeline, out: str, **_: Any) -> tuple[Rendered, ...]:
    command = f"lockgate generate jenkins --out {out}"
    o = _Out()
    o.line(BEGIN)
    o.lines.extend(header_lines(ci.spec_path, "jenkins", command, prefix="// ").splitlines())
    o.line(f"@Library({q(LIBRARY)}) _")
    o.line()
    o.open("pipeline")
    o.line("agent none")
    o.open("options")
    o.line("disableConcurrentBuilds()")
    o.close()
    o.open("parameters")
    o.line(
        f"string(name: 'LOCKGATE_EVENT', defaultValue: '', description: "
        f"{q('set to ' + (ci.data_event or 'data-update') + ' for a data-update build')})"
    )
    o.line(
        "string(name: 'LOCKGATE_DATASET', defaultValue: '', "
        "description: 'the dataset that changed')"
    )
    if any(g.four_eyes and g.waits for g in ci.gates):
        o.line(
            "string(name: 'LOCKGATE_CHANGE_AUTHOR', defaultValue: '', description: "
            "'four-eyes: Jenkins user id of the change author (pull-request builds use "
            "CHANGE_AUTHOR)')"
        )
    o.close()
    if ci.schedules:
        o.open("triggers")
        for cron in ci.schedules:
            o.line(f"cron({q('TZ=UTC')} + '\\n' + {q(cron)})")
        o.close()
    o.open("environment")
    o.line(f"LOCKGATE_SPEC = {q(ci.spec_path)}")
    if ci.build_image:
        o.line(f"LOCKGATE_IMAGE_NAME = {q(_image_name(ci))}")
    o.close()
    o.open("stages")
    if ci.build_image:
        o.open(f"stage({q(IMAGE_JOB)})")
        o.line(f"agent {{ label {q(IMAGE_AGENT)} }}")
        o.open("steps")
        o.line("script { env.LOCKGATE_IMAGE = lockgateImage(push: env.LOCKGATE_IMAGE_NAME) }")
        o.close()
        o.close()
    for level in sorted({s.level for s in ci.stages}):
        group = [s for s in ci.stages if s.level == level]
        if len(group) == 1:
            _stage(o, ci, group[0])
            continue
        # lockgate's own name space (lockgate--), so no stage can be named like it
        o.open(f"stage({q(f'{GENERATED_PREFIX}level-{level}')})")
        o.open("parallel")
        for stage in group:
            _stage(o, ci, stage)
        o.close()
        o.close()
    o.close()
    o.close()
    o.line(END)
    return (Rendered(out, "\n".join(o.lines) + "\n", FORMAT),)


def _image_name(ci: CiPipeline) -> str:
    return f"{ci.registry}/{ci.name}-runner" if ci.registry else f"{ci.name}-runner"


def _agent(stage: CiStage) -> str:
    labels = (
        [stage.scale_set] if stage.scale_set else [x for x in stage.labels if x != "self-hosted"]
    )
    return f"agent {{ label {q(' && '.join(labels))} }}" if labels else "agent any"


def _stage(o: _Out, ci: CiPipeline, stage: CiStage) -> None:
    o.open(f"stage({q(stage.name)})")
    o.line(_agent(stage))
    if not stage.runs_always:
        o.open("when")
        o.line("beforeAgent true")
        if stage.gate and stage.gate.waits:
            o.line("beforeInput true")
        o.open("anyOf")
        for trigger in stage.when:
            if ci.has_trigger(trigger):
                o.line(_when(ci, trigger))
        o.close()
        o.close()
    gate = stage.gate
    if gate:
        o.open("options")
        o.line(f"lock(resource: {q('lockgate-' + gate.environment)})")
        if gate.waits:
            o.line(f"timeout(time: {APPROVAL_HOURS}, unit: 'HOURS')")
        o.close()
    if gate and gate.waits:  # required_approvals: 0 is no approval step, as on GitHub/GitLab
        o.open("input")
        o.line(f"message {q(f'Deploy {ci.name} to {gate.environment}?')}")
        o.line("ok 'Approve'")
        if gate.approvers:
            o.line(f"submitter {q(','.join(gate.approvers))}")
        o.line("submitterParameter 'LOCKGATE_APPROVER'")
        o.close()
    o.open("steps")
    if gate and gate.waits:
        o.line(
            f"lockgateGate(environment: {q(gate.environment)}, approver: env.LOCKGATE_APPROVER, "
            f"approvers: {glist(gate.approvers)}, requiredApprovals: {gate.required_approvals}, "
            f"fourEyes: {str(gate.four_eyes).lower()})"
        )
    args = [f"name: {q(stage.name)}", f"needs: {glist(stage.needs)}"]
    if ci.build_image:
        args.append("image: env.LOCKGATE_IMAGE")
    if stage.gpu:
        args.append("gpu: true")
    if not stage.cache:
        args.append("cache: false")
    if stage.timeout_minutes:
        args.append(f"timeoutMinutes: {stage.timeout_minutes}")
    if stage.retries:
        args.append(f"retries: {stage.retries}")
    if stage.secrets:
        args.append(f"secrets: {glist(stage.secrets)}")
    o.line(f"lockgateStage({', '.join(args)})")
    o.close()
    o.close()


def _when(ci: CiPipeline, trigger: str) -> str:
    event = q(ci.data_event or "data-update")
    if trigger == "pull_request":
        targets = ci.pr_branches or ()
        if not targets:
            return "changeRequest()"
        return "anyOf { " + "; ".join(f"changeRequest(target: {q(b)})" for b in targets) + " }"
    if trigger == "push":
        branches = ci.push_branches or ()
        on_branch = (
            "anyOf { " + "; ".join(f"branch {q(b)}" for b in branches) + " }; " if branches else ""
        )
        return (
            f"allOf {{ not {{ changeRequest() }}; {on_branch}not {{ triggeredBy 'TimerTrigger' }}; "
            "not { triggeredBy cause: 'UserIdCause' }; expression { !params.LOCKGATE_EVENT } }"
        )
    if trigger == "schedule":
        return "triggeredBy 'TimerTrigger'"
    if trigger == "data_update":
        return f"expression {{ params.LOCKGATE_EVENT == {event} }}"
    return (
        f"allOf {{ triggeredBy cause: 'UserIdCause'; "
        f"expression {{ params.LOCKGATE_EVENT != {event} }} }}"
    )
