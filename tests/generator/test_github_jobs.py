"""What the GitHub renderer decides per job: permissions, runners, gates, triggers."""

from __future__ import annotations

from generator_examples import EXAMPLES

from lockgate.generator.render import render_files
from lockgate.generator.yamltext import load


def _workflow(example: str, **options: object) -> dict:
    root = EXAMPLES / example
    files = render_files(provider="github", spec=root / "lockgate.yaml", root=root, **options)
    return load(files[0].text)


def test_least_privilege_permissions() -> None:
    wf = _workflow("gated")
    jobs = wf["jobs"]
    assert wf["permissions"] == {}
    # gated's runner image goes to registry.example.com: no GitHub Packages permission at all
    assert jobs["lockgate--image"]["permissions"] == {"contents": "read"}
    assert jobs["lockgate-train"]["permissions"] == {"contents": "read"}
    assert jobs["lockgate-sign"]["permissions"] == {
        "contents": "read",
        "id-token": "write",
    }  # no attestations: write — signatures and attestations go to the registry
    assert jobs["lockgate-scan"]["permissions"]["security-events"] == "write"
    writers = {n for n, j in jobs.items() if "write" in j["permissions"].values()}
    assert writers == {"lockgate-sign", "lockgate-scan", "lockgate--report"}
    assert jobs["lockgate--report"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    # on GHCR (no `registry:`) the job token writes the image and stage jobs read it
    ghcr = _workflow("quickstart")["jobs"]
    assert ghcr["lockgate--image"]["permissions"] == {"contents": "read", "packages": "write"}
    assert ghcr["lockgate-prepare"]["permissions"] == {"contents": "read", "packages": "read"}


def test_only_a_digest_crosses_jobs_and_jobs_run_in_it() -> None:
    jobs = _workflow("quickstart")["jobs"]
    assert dict(jobs["lockgate--image"]["outputs"]) == {"image": "${{ steps.image.outputs.image }}"}
    for name, job in jobs.items():
        if name.startswith("lockgate-") and not name.startswith("lockgate--"):
            assert job["container"]["image"] == "${{ needs.lockgate--image.outputs.image }}"
            assert "lockgate--image" in job["needs"]


def test_runners_for_gpu_labels_and_scale_sets() -> None:
    jobs = _workflow("gpu")["jobs"]
    assert list(jobs["lockgate-train"]["runs-on"]) == ["self-hosted", "linux", "gpu"]
    assert jobs["lockgate-train"]["container"]["options"] == "--gpus all"
    assert jobs["lockgate-train-large"]["runs-on"] == "arc-gpu-h100"
    assert list(jobs["lockgate-evaluate"]["runs-on"]) == ["self-hosted", "linux", "cpu-large"]
    assert jobs["lockgate-prepare"]["runs-on"] == "ubuntu-24.04"
    assert jobs["lockgate-train"]["timeout-minutes"] == 120


def test_environments_gates_and_triggers() -> None:
    wf = _workflow("gated")
    on, jobs = wf["on"], wf["jobs"]
    assert list(on["repository_dispatch"]["types"]) == ["data-update"]
    assert on["schedule"][0]["cron"] == "0 3 * * 1"
    assert list(on["workflow_dispatch"]["inputs"]) == ["stage", "no_cache", "reason", "dataset"]
    production = jobs["lockgate-deploy-production"]
    assert production["environment"]["name"] == "production"
    assert dict(production["concurrency"]) == {
        "group": "lockgate-production",
        "cancel-in-progress": False,
    }
    assert production["if"] == (
        "((github.event_name == 'push') || (github.event_name == 'workflow_dispatch' && "
        "inputs.reason != 'data-update')) && (github.event_name != 'workflow_dispatch' || "
        "inputs.stage == '' || inputs.stage == 'deploy-production') && "
        "(needs.lockgate--image.outputs.image != '')"
    )
    assert jobs["lockgate-train"]["if"].startswith(
        "(github.event_name != 'workflow_dispatch' || inputs.stage == '' || "
    )
    train_run = next(
        s for s in jobs["lockgate-train"]["steps"] if s.get("name") == "Run stage train"
    )
    assert train_run["env"] == {"MLFLOW_TRACKING_TOKEN": "${{ secrets.MLFLOW_TRACKING_TOKEN }}"}


def test_outputs_travel_as_artifacts_and_reports_reach_the_summary() -> None:
    steps = _workflow("quickstart")["jobs"]["lockgate-train"]["steps"]
    downloads = [s["with"]["name"] for s in steps if "download-artifact" in s.get("uses", "")]
    assert downloads == ["lockgate-features", "lockgate-stats"]
    cache = next(s for s in steps if "actions/cache" in s.get("uses", ""))
    assert cache["with"]["key"] == "lockgate-train-${{ steps.cache-key.outputs.key }}"
    summary = next(s for s in steps if s.get("name") == "Job summary")
    assert summary["if"] == "always()" and "--output github" in summary["run"]


def test_shell_mode_has_no_image_job_or_container() -> None:
    jobs = _workflow("quickstart", build_image=False)["jobs"]
    assert "lockgate--image" not in jobs
    assert all("container" not in j for j in jobs.values())
    assert "packages" not in jobs["lockgate-prepare"]["permissions"]


def test_superseded_pr_runs_are_cancelled_and_manual_runs_pick_a_stage() -> None:
    wf = _workflow("quickstart")
    assert wf["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    assert "github.event.pull_request.number" in wf["concurrency"]["group"]
    inputs = wf["on"]["workflow_dispatch"]["inputs"]
    assert inputs["no_cache"]["type"] == "boolean"
    stages = [n for n in inputs["stage"]["options"] if n]
    jobs = wf["jobs"]
    # picking a stage runs it and its upstreams: every job naming the pick is that or upstream
    train = jobs["lockgate-train"]
    assert "'train'" in train["if"] or '"train"' in train["if"]
    for name in stages:
        job = jobs[f"lockgate-{name}"]
        assert f'"{name}"' in job["if"] or f"'{name}'" in job["if"]
    cache = next(s for s in train["steps"] if "actions/cache" in s.get("uses", ""))
    assert cache["if"] == "${{ !inputs.no_cache }}"


def test_one_report_job_posts_the_pr_comment_after_every_stage() -> None:
    jobs = _workflow("quickstart")["jobs"]
    report = jobs["lockgate--report"]
    stage_jobs = [n for n in jobs if not n.startswith("lockgate--")]
    assert list(report["needs"]) == stage_jobs
    assert report["if"] == "always()" and report["continue-on-error"] is True
    post = next(s for s in report["steps"] if s.get("name") == "Post the report")
    assert "--post github" in post["run"] and "--github-summary" in post["run"]
    assert post["env"] == {"GITHUB_TOKEN": "${{ secrets.GITHUB_TOKEN }}"}
    assert all("pull-requests" not in j["permissions"] for n, j in jobs.items() if j is not report)


def test_stages_named_like_generated_jobs_keep_their_own_jobs() -> None:
    jobs = _workflow("reserved-names")["jobs"]
    assert list(jobs) == [
        "lockgate--image",
        "lockgate-image",
        "lockgate-report",
        "lockgate-deploy",
        "lockgate--report",
    ]
    assert list(jobs["lockgate-image"]["needs"]) == ["lockgate--image"]
    assert list(jobs["lockgate-report"]["needs"]) == ["lockgate--image", "lockgate-image"]
    assert jobs["lockgate-report"]["name"] == "report"


def test_tracking_server_reaches_train_and_evaluate() -> None:
    jobs = _workflow("pipeline-tabular-mlp")["jobs"]
    for name, job in jobs.items():
        run = next(
            (s for s in job["steps"] if str(s.get("name", "")).startswith("Run stage")), None
        )
        if run is None:
            continue
        env = run.get("env") or {}
        has = env.get("MLFLOW_TRACKING_URI") == "${{ secrets.MLFLOW_TRACKING_URI }}"
        assert has == (name in ("lockgate-train", "lockgate-evaluate", "lockgate-package")), name


def test_report_job_never_waits_for_an_approval() -> None:
    """Production needs two approvals; staging none, so the report includes staging's deploy.
    A stage after an approval waits for it too, so it stays out as well (``level-names``)."""
    needs = set(_workflow("gated")["jobs"]["lockgate--report"]["needs"])
    assert "lockgate-deploy-staging" in needs and "lockgate-deploy-production" not in needs
    needs = list(_workflow("level-names")["jobs"]["lockgate--report"]["needs"])
    assert needs == ["lockgate-prepare", "lockgate-lockgate-1", "lockgate-other"]


def test_a_fork_pull_request_builds_without_pushing_and_skips_the_stages() -> None:
    doc = _workflow("quickstart")
    (step,) = [s for s in doc["jobs"]["lockgate--image"]["steps"] if s.get("id") == "image"]
    fork = "github.event.pull_request.head.repo.full_name != github.repository"
    assert f"{fork} || github.actor == 'dependabot[bot]')) && '--read-only' || '' }}" in step["run"]
    stage_jobs = [j for n, j in doc["jobs"].items() if not n.startswith("lockgate--")]
    assert stage_jobs
    for job in stage_jobs:  # a stage job runs only when the image job named an image
        assert job["if"].endswith("(needs.lockgate--image.outputs.image != '')"), job["if"]


def test_every_job_gets_the_encryption_key_when_outputs_are_sealed(tmp_path) -> None:
    """Every job seals its cache entry and exports and opens its inputs: each needs the key."""
    (tmp_path / "lockgate.yaml").write_text(
        "version: 1\nname: sealed\nimage: {base: lockgate/debian:bookworm}\n"
        "secrets:\n  data-key: {env: LOCKGATE_DATA_KEY}\n  token: {env: API_TOKEN}\n"
        "encryption: {key: data-key}\n"
        "stages:\n  a: {run: [sh, -c, 'true']}\n"
        "  b: {run: [sh, -c, 'true'], needs: [a], secrets: [token]}\n"
    )
    files = render_files(provider="github", spec=tmp_path / "lockgate.yaml", root=tmp_path)
    jobs = load(files[0].text)["jobs"]
    for stage, env in {
        "a": {"LOCKGATE_DATA_KEY": "${{ secrets.LOCKGATE_DATA_KEY }}"},
        "b": {
            "API_TOKEN": "${{ secrets.API_TOKEN }}",
            "LOCKGATE_DATA_KEY": "${{ secrets.LOCKGATE_DATA_KEY }}",
        },
    }.items():
        step = next(
            s for s in jobs[f"lockgate-{stage}"]["steps"] if s.get("name") == f"Run stage {stage}"
        )
        assert dict(step["env"]) == env


def test_every_job_gets_the_kms_credentials_when_a_kms_key_seals(tmp_path) -> None:
    """With a KMS key each job unwraps (or makes) its data key: each needs the credentials."""
    (tmp_path / "lockgate.yaml").write_text(
        "version: 1\nname: sealed\nimage: {base: lockgate/debian:bookworm}\n"
        "secrets:\n  vault-addr: {env: VAULT_ADDR}\n  vault-token: {env: VAULT_TOKEN}\n"
        "encryption:\n  key: hashivault://data\n"
        "  credentials: {VAULT_ADDR: vault-addr, VAULT_TOKEN: vault-token}\n"
        "stages:\n  a: {run: [sh, -c, 'true']}\n"
    )
    files = render_files(provider="github", spec=tmp_path / "lockgate.yaml", root=tmp_path)
    jobs = load(files[0].text)["jobs"]
    step = next(s for s in jobs["lockgate-a"]["steps"] if s.get("name") == "Run stage a")
    assert dict(step["env"]) == {
        "VAULT_ADDR": "${{ secrets.VAULT_ADDR }}",
        "VAULT_TOKEN": "${{ secrets.VAULT_TOKEN }}",
    }
