"""What the GitHub renderer decides per job: permissions, runners, gates, triggers."""

from __future__ import annotations

from generator_examples import EXAMPLES

from lockgate.commands.generate import render_files
from lockgate.generator.yamltext import load


def _workflow(example: str, **options: object) -> dict:
    root = EXAMPLES / example
    files = render_files(provider="github", spec=root / "lockgate.yaml", root=root, **options)
    return load(files[0].text)


def test_least_privilege_permissions() -> None:
    wf = _workflow("gated")
    jobs = wf["jobs"]
    assert wf["permissions"] == {}
    assert jobs["lockgate-image"]["permissions"] == {"contents": "read", "packages": "write"}
    assert jobs["lockgate-train"]["permissions"] == {"contents": "read", "packages": "read"}
    assert jobs["lockgate-sign"]["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "attestations": "write",
        "packages": "read",
    }
    assert jobs["lockgate-scan"]["permissions"]["security-events"] == "write"
    writers = {n for n, j in jobs.items() if "write" in j["permissions"].values()}
    assert writers == {"lockgate-image", "lockgate-sign", "lockgate-scan"}


def test_only_a_digest_crosses_jobs_and_jobs_run_in_it() -> None:
    jobs = _workflow("quickstart")["jobs"]
    assert dict(jobs["lockgate-image"]["outputs"]) == {"image": "${{ steps.image.outputs.image }}"}
    for name, job in jobs.items():
        if name != "lockgate-image":
            assert job["container"]["image"] == "${{ needs.lockgate-image.outputs.image }}"
            assert "lockgate-image" in job["needs"]


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
    assert list(on["workflow_dispatch"]["inputs"]) == ["reason", "dataset"]
    production = jobs["lockgate-deploy-production"]
    assert production["environment"]["name"] == "production"
    assert dict(production["concurrency"]) == {
        "group": "lockgate-production",
        "cancel-in-progress": False,
    }
    assert production["if"] == (
        "(github.event_name == 'push') || (github.event_name == 'workflow_dispatch' && "
        "inputs.reason != 'data-update')"
    )
    assert "if" not in jobs["lockgate-train"]
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
    assert "lockgate-image" not in jobs
    assert all("container" not in j for j in jobs.values())
    assert "packages" not in jobs["lockgate-prepare"]["permissions"]
