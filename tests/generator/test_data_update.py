"""A data-update event schedules the ingest stage in every provider: the reference pipeline that
starts from PostgreSQL (pipelines/postgres-mlp) declares `triggers.data_update`, and each
generated file both accepts the event and keeps the ingest job in such a run. The same files pass
the real validators (test_validators.py, test_jenkins.py) and match their golden copies."""

from __future__ import annotations

from generator_examples import EXAMPLES

from lockgate.generator.render import render_files
from lockgate.generator.yamltext import load

EXAMPLE = EXAMPLES / "pipeline-postgres-mlp"
EVENT = "patients-loaded"


def _file(provider: str) -> str:
    files = render_files(provider=provider, spec=EXAMPLE / "lockgate.yaml", root=EXAMPLE)
    return files[0].text


def test_github_runs_ingest_on_a_repository_dispatch() -> None:
    workflow = load(_file("github"))
    assert list(workflow["on"]["repository_dispatch"]["types"]) == [EVENT]
    assert "data-update" in workflow["on"]["workflow_dispatch"]["inputs"]["reason"]["options"]
    ingest = workflow["jobs"]["lockgate-ingest"]
    # the job's condition only narrows manual runs (one stage picked) and needs the image
    assert "repository_dispatch" not in ingest["if"] and "github.event_name ==" not in ingest["if"]
    assert "actions/cache" not in str(ingest["steps"])  # never cached: it reads the database


def test_gitlab_admits_the_trigger_and_keeps_ingest_in_it() -> None:
    ci = load(_file("gitlab"))
    rules = [r["if"] for r in ci["workflow"]["rules"]]
    assert any('$CI_PIPELINE_SOURCE == "trigger"' in r and f'"{EVENT}"' in r for r in rules)
    ingest = ci["lockgate-ingest"]
    assert "rules" not in ingest and "cache" not in ingest


def test_jenkins_takes_the_event_as_a_parameter_and_runs_ingest_unconditionally() -> None:
    text = _file("jenkins")
    assert f"set to {EVENT} for a data-update build" in text
    ingest = text[text.index("stage('ingest')") : text.index("stage('data-check')")]
    assert "when {" not in ingest and "cache: false" in ingest
