"""What the GitLab renderer decides per job: reports, keyless signing, interruptible jobs, the
MR report job."""

from __future__ import annotations

from generator_examples import EXAMPLES

from lockgate.generator.render import render_files
from lockgate.generator.yamltext import load


def _pipeline(example: str) -> dict:
    root = EXAMPLES / example
    files = render_files(provider="gitlab", spec=root / "lockgate.yaml", root=root)
    return load(files[0].text)


def test_scan_reports_signing_tokens_and_interruptible_jobs() -> None:
    doc = _pipeline("gated")
    reports = doc["lockgate-scan"]["artifacts"]["reports"]
    assert reports["container_scanning"] == ".lockgate/out/scan/gl-container-scanning-report.json"
    assert list(reports["cyclonedx"]) == [".lockgate/out/scan/sbom.cdx.json"]
    assert doc["lockgate-sign"]["id_tokens"] == {"SIGSTORE_ID_TOKEN": {"aud": "sigstore"}}
    assert [n for n, j in doc.items() if isinstance(j, dict) and "id_tokens" in j] == [
        "lockgate-sign"
    ]
    for name, job in doc.items():
        if (
            not isinstance(job, dict)
            or name.startswith(".")
            or ("stage" not in job and "extends" not in job)
        ):
            continue
        interruptible = job.get(
            "interruptible", doc.get(job.get("extends"), {}).get("interruptible")
        )
        if "environment" in job:
            assert interruptible is False, name  # deployments are never cancelled
        else:
            # GitLab cancels a superseded pipeline only while no non-interruptible job has
            # started (regression: the image job, always the first, had no `interruptible`)
            assert interruptible is True, name


def test_report_job_keeps_one_mr_note_and_never_waits_for_a_gate() -> None:
    doc = _pipeline("gated")
    report = doc["lockgate--report"]
    assert report["extends"] == ".lockgate-report"
    needed = {n["job"] for n in report["needs"]}
    assert "lockgate-deploy-production" not in needed  # waits for two approvals
    assert "lockgate-deploy-staging" in needed  # requires none
    assert "lockgate-train" in needed
    template = doc[".lockgate-report"]
    assert template["when"] == "always" and template["allow_failure"] is True
    assert "--post gitlab" in template["script"][0]
    assert doc["stages"][-1] == "lockgate-report"


def test_stages_named_like_generated_jobs_keep_their_own_jobs() -> None:
    doc = _pipeline("reserved-names")
    assert list(doc["lockgate-image"]["needs"]) == ["lockgate--image"]
    assert doc["lockgate-image"]["variables"]["LOCKGATE_STAGE_NAME"] == "image"
    assert doc["lockgate--image"]["extends"] == ".lockgate-image"
    assert doc["lockgate-report"]["variables"]["LOCKGATE_STAGE_NAME"] == "report"
    assert doc["lockgate--report"]["extends"] == ".lockgate-report"


def test_zero_required_approvals_means_none_on_every_provider() -> None:
    """Regression: approvers listed with required_approvals: 0 used to require one approval on
    GitLab and a reviewer on GitHub, while Jenkins required none."""
    root = EXAMPLES / "reserved-names"
    files = {f.path: f.text for f in render_files(provider="all", spec=None, root=root)}
    assert '"required_approval_count": 0' in files[".gitlab-ci.setup.sh"]
    assert '"reviewers": []' in files[".github/workflows/lockgate.setup.sh"]
    jenkinsfile = files["Jenkinsfile"]
    assert "input {" not in jenkinsfile and "lockgateGate" not in jenkinsfile
    gitlab = load(files[".gitlab-ci.yml"])
    assert "rules" not in gitlab["lockgate-deploy"]  # not manual: nobody has to let it through
    assert gitlab["lockgate-deploy"]["environment"]["name"] == "review"
    github = load(files[".github/workflows/lockgate.yml"])
    assert github["jobs"]["lockgate-deploy"]["environment"]["name"] == "review"


def test_required_approvals_make_the_deployment_wait_on_every_provider() -> None:
    root = EXAMPLES / "gated"
    files = {f.path: f.text for f in render_files(provider="all", spec=None, root=root)}
    gitlab = load(files[".gitlab-ci.yml"])
    assert {r.get("when") for r in gitlab["lockgate-deploy-production"]["rules"]} == {"manual"}
    assert all(r.get("when") is None for r in gitlab["lockgate-deploy-staging"]["rules"])
    script = files[".github/workflows/lockgate.setup.sh"]
    assert "environments/production" in script and "environments/staging" not in script
    assert '"required_approval_count": 2' in files[".gitlab-ci.setup.sh"]
    assert "requiredApprovals: 2, fourEyes: true" in files["Jenkinsfile"]


def test_image_job_runs_in_a_mirrorable_image_and_bootstraps_a_missing_lockgate_base() -> None:
    doc = _pipeline("minimal")
    job = doc[".lockgate-image"]
    assert job["image"] == "$LOCKGATE_BUILDER_IMAGE"
    assert job["variables"]["LOCKGATE_BUILDER_IMAGE"] == "python:3.11-slim-bookworm"
    assert job["services"] == [{"name": "$LOCKGATE_DIND_IMAGE", "alias": "docker"}]
    assert job["variables"]["LOCKGATE_DIND_IMAGE"] == "docker:27-dind"
    assert job["variables"]["DOCKER_HOST"] == "tcp://docker:2375"  # the alias, not the image
    build = [line for line in job["script"] if line.startswith("lockgate ci image ")]
    assert len(build) == 1 and " --bootstrap-base " in build[0]
    assert job["script"].index(build[0]) > 0  # after `lockgate ci login`
