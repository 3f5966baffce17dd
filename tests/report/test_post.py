"""``lockgate report --post`` against a real HTTP server on loopback that records each request and
answers the way the GitHub issues-comments and GitLab merge-request-notes APIs document
(:mod:`tests.report.fake_api`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.report.fake_api import BOT, TOKEN, FakeApi


def ci_run(tmp_path: Path, verdict: str) -> Path:
    """Artifacts as a CI report job downloads them: <stage>/ with report.md and metrics.json."""
    run = tmp_path / "in"
    (run / "evaluate").mkdir(parents=True, exist_ok=True)
    (run / "evaluate" / "report.md").write_text(
        f"## Evaluation\n\nverdict **{verdict}**\n\n![confusion matrix](confusion-matrix.png)\n"
    )
    return run


def lockgate(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockgate", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def github_env(tmp_path: Path, base: str) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    return {
        "GITHUB_API_URL": base,
        "GITHUB_REPOSITORY": "acme/churn",
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }


def test_github_first_run_creates_second_updates_never_a_second_comment(
    tmp_path: Path, api: tuple[FakeApi, str]
) -> None:
    state, base = api
    env = github_env(tmp_path, base)
    for verdict in ("fail", "pass"):
        run = ci_run(tmp_path, verdict)
        done = lockgate(
            [
                "report",
                str(run),
                "--post",
                "github",
                "--github-summary",
                "-o",
                str(tmp_path / "r.md"),
            ],
            env,
        )
        assert done.returncode == 0, done.stderr
    thread = "/repos/acme/churn/issues/7/comments"
    assert len(state.comments[thread]) == 1
    (comment,) = state.comments[thread]
    assert "verdict **pass**" in comment["body"] and "verdict **fail**" not in comment["body"]
    assert comment["body"].startswith("<!-- lockgate-report:default -->")
    assert "](confusion-matrix.png)" not in comment["body"]  # no relative image link
    writes = [(m, p) for m, p, _, _ in state.requests if m != "GET"]
    assert writes == [
        ("POST", thread),
        ("PATCH", f"/repos/acme/churn/issues/comments/{comment['id']}"),
    ]
    headers = state.requests[0][2]
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["x-github-api-version"] == "2022-11-28"
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.count("## lockgate run") == 2  # the job summary is written on each run


def test_github_finds_its_comment_past_the_first_page(
    tmp_path: Path, api: tuple[FakeApi, str]
) -> None:
    state, base = api
    thread = "/repos/acme/churn/issues/7/comments"
    state.comments[thread] = [{"id": i, "body": f"chatter {i}"} for i in range(1, 101)]
    state.comments[thread].append(
        {"id": 555, "body": "<!-- lockgate-report:default -->\nold", "user": {"login": BOT}}
    )
    done = lockgate(
        ["report", str(ci_run(tmp_path, "pass")), "--post", "github"], github_env(tmp_path, base)
    )
    assert done.returncode == 0, done.stderr
    assert len(state.comments[thread]) == 101
    assert "verdict **pass**" in state.comments[thread][-1]["body"]


def test_gitlab_notes_created_then_updated(tmp_path: Path, api: tuple[FakeApi, str]) -> None:
    state, base = api
    env = {
        "CI_API_V4_URL": f"{base}/api/v4",
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "3",
        "LOCKGATE_GITLAB_TOKEN": TOKEN,
    }
    for verdict in ("fail", "pass"):
        done = lockgate(["report", str(ci_run(tmp_path, verdict)), "--post", "gitlab"], env)
        assert done.returncode == 0, done.stderr
    notes = "/api/v4/projects/42/merge_requests/3/notes"
    assert len(state.comments[notes]) == 1
    note = state.comments[notes][0]
    assert "verdict **pass**" in note["body"]
    writes = [(m, p) for m, p, _, _ in state.requests if m != "GET"]
    assert writes == [("POST", notes), ("PUT", f"{notes}/{note['id']}")]
    assert state.requests[0][2]["private-token"] == TOKEN


@pytest.mark.parametrize("status", [403, 422])
def test_refusal_is_one_clear_message_and_the_results_stay(
    tmp_path: Path, api: tuple[FakeApi, str], status: int
) -> None:
    state, base = api
    state.refuse = status
    env = github_env(tmp_path, base)
    out = tmp_path / "r.md"
    done = lockgate(
        [
            "report",
            str(ci_run(tmp_path, "pass")),
            "--post",
            "github",
            "--github-summary",
            "-o",
            str(out),
        ],
        env,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"({status} " in lines[0] and "Traceback" not in done.stderr
    if status == 403:
        assert "pull-requests: write" in lines[0]
    assert TOKEN not in done.stderr + done.stdout
    assert "verdict **pass**" in out.read_text()  # the report itself is kept
    assert "verdict **pass**" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()


def test_push_runs_post_nothing(tmp_path: Path, api: tuple[FakeApi, str]) -> None:
    state, base = api
    env = github_env(tmp_path, base)
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps({"ref": "refs/heads/main"}))
    done = lockgate(["report", str(ci_run(tmp_path, "pass")), "--post", "github"], env)
    assert done.returncode == 0 and "nothing posted" in done.stderr
    assert state.requests == []


def test_gitlab_refusal_is_one_clear_message_and_the_report_stays(
    tmp_path: Path, api: tuple[FakeApi, str]
) -> None:
    state, base = api
    state.refuse = 403
    env = {
        "CI_API_V4_URL": f"{base}/api/v4",
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "3",
        "LOCKGATE_GITLAB_TOKEN": TOKEN,
    }
    out = tmp_path / "r.md"
    done = lockgate(
        ["report", str(ci_run(tmp_path, "pass")), "--post", "gitlab", "-o", str(out)], env
    )
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("lockgate: error: report --post: gitlab refused POST http://")
    assert "/api/v4/projects/42/merge_requests/3/notes (403 " in line
    assert "api scope and at least Reporter" in line
    assert TOKEN not in done.stderr + done.stdout
    assert "verdict **pass**" in out.read_text()
