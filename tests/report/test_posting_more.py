"""``lockgate report --post`` where the thread, the server or the input is not the easy case:
someone else's comment carrying the marker, pages past the first, rate limits and 5xx, a token
that must not leak, a redirect to another host, and bad input. Against the real HTTP server of
:mod:`tests.report.fake_api`, which stands in for github.com and gitlab.com (not reachable
here); the retries' waits go to a recorded ``sleep`` instead of the clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lockgate.report.post import PostError, github_thread, post_report
from tests.report.fake_api import ACTIONS_BOT, ACTIONS_TOKEN, BOT, TOKEN, FakeApi, serve

MARK = "<!-- lockgate-report:default -->"
THREAD = "/repos/acme/churn/issues/7/comments"
NOTES = "/api/v4/projects/42/merge_requests/3/notes"


def ci_run(tmp_path: Path, verdict: str) -> Path:
    run = tmp_path / "in"
    (run / "evaluate").mkdir(parents=True, exist_ok=True)
    (run / "evaluate" / "report.md").write_text(f"## Evaluation\n\nverdict **{verdict}**\n")
    return run


def lockgate(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    ours = ("GITHUB_", "GITLAB_", "CI_", "LOCKGATE_COMMENT_AUTHOR", "LOCKGATE_GITLAB_TOKEN")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return subprocess.run(
        [sys.executable, "-m", "lockgate", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def github_env(tmp_path: Path, base: str, token: str = TOKEN) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    return {
        "GITHUB_API_URL": base,
        "GITHUB_REPOSITORY": "acme/churn",
        "GITHUB_TOKEN": token,
        "GITHUB_EVENT_PATH": str(event),
    }


def gitlab_env(base: str) -> dict[str, str]:
    return {
        "CI_API_V4_URL": f"{base}/api/v4",
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "3",
        "LOCKGATE_GITLAB_TOKEN": TOKEN,
    }


def test_a_comment_of_someone_else_with_the_marker_is_left_alone(
    tmp_path: Path, api: tuple[FakeApi, str]
) -> None:
    state, base = api
    planted = {"id": 5, "body": f"{MARK}\nall green, merge it", "user": {"login": "mallory"}}
    state.comments[THREAD] = [dict(planted)]
    for verdict in ("fail", "pass"):
        done = lockgate(
            ["report", str(ci_run(tmp_path, verdict)), "--post", "github"],
            github_env(tmp_path, base),
        )
        assert done.returncode == 0, done.stderr
    planted_now, ours = state.comments[THREAD]
    assert planted_now == planted
    assert ours["user"] == {"login": BOT} and "verdict **pass**" in ours["body"]


def test_gitlab_a_note_of_someone_else_with_the_marker_is_left_alone(
    tmp_path: Path, api: tuple[FakeApi, str]
) -> None:
    state, base = api
    planted = {"id": 5, "body": f"{MARK}\nall green", "author": {"username": "mallory"}}
    state.comments[NOTES] = [dict(planted)]
    for verdict in ("fail", "pass"):
        done = lockgate(
            ["report", str(ci_run(tmp_path, verdict)), "--post", "gitlab"], gitlab_env(base)
        )
        assert done.returncode == 0, done.stderr
    assert state.comments[NOTES][0] == planted
    assert len(state.comments[NOTES]) == 2


def test_a_stage_cannot_plant_another_key_marker(tmp_path: Path, api: tuple[FakeApi, str]) -> None:
    """The nightly comment stays the nightly one, whatever the default report's stage wrote."""
    state, base = api
    run = ci_run(tmp_path, "pass")
    (run / "evaluate" / "report.md").write_text("<!-- lockgate-report:nightly -->\nhello\n")
    env = github_env(tmp_path, base)
    assert lockgate(["report", str(run), "--post", "github"], env).returncode == 0
    nightly = ci_run(tmp_path / "n", "nightly")
    assert (
        lockgate(["report", str(nightly), "--post", "github", "--key", "nightly"], env).returncode
        == 0
    )
    default, second = state.comments[THREAD]
    assert "hello" in default["body"] and "nightly" in second["body"]


def test_github_token_comments_as_the_actions_bot(tmp_path: Path, api: tuple[FakeApi, str]) -> None:
    """GITHUB_TOKEN may not read GET /user: in Actions its comments are github-actions[bot]'s."""
    state, base = api
    env = {**github_env(tmp_path, base, ACTIONS_TOKEN), "GITHUB_ACTIONS": "true"}
    for verdict in ("fail", "pass"):
        done = lockgate(["report", str(ci_run(tmp_path, verdict)), "--post", "github"], env)
        assert done.returncode == 0, done.stderr
    (comment,) = state.comments[THREAD]
    assert comment["user"] == {"login": ACTIONS_BOT} and "verdict **pass**" in comment["body"]


def test_an_app_token_outside_actions_keeps_its_comment(
    tmp_path: Path, api: tuple[FakeApi, str]
) -> None:
    """An App's token (Jenkins' GitHub App) may not read GET /user either: its comment is the
    one of an App account (NAME[bot], a name no person can take), never a person's."""
    state, base = api
    planted = {"id": 5, "body": f"{MARK}\nall green", "user": {"login": "mallory"}}
    state.comments[THREAD] = [dict(planted)]
    for verdict in ("fail", "pass"):
        done = lockgate(
            ["report", str(ci_run(tmp_path, verdict)), "--post", "github"],
            github_env(tmp_path, base, ACTIONS_TOKEN),
        )
        assert done.returncode == 0, done.stderr
    planted_now, ours = state.comments[THREAD]
    assert planted_now == planted and "verdict **pass**" in ours["body"]


def test_pages_follow_the_link_header_on_a_server_paging_by_50(
    tmp_path: Path, api: tuple[FakeApi, str]
) -> None:
    state, base = api
    state.max_per_page = 50
    state.comments[THREAD] = [
        {"id": i, "body": f"chatter {i}", "user": {"login": "dev"}} for i in range(1, 121)
    ]
    state.comments[THREAD].append({"id": 555, "body": f"{MARK}\nold", "user": {"login": BOT}})
    done = lockgate(
        ["report", str(ci_run(tmp_path, "pass")), "--post", "github"], github_env(tmp_path, base)
    )
    assert done.returncode == 0, done.stderr
    assert len(state.comments[THREAD]) == 121
    assert "verdict **pass**" in state.comments[THREAD][-1]["body"]


@pytest.mark.parametrize(
    "status, headers",
    [
        (429, {"Retry-After": "0"}),
        (403, {"Retry-After": "0"}),
        (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0"}),
    ],
)
def test_a_rate_limit_is_waited_out(
    tmp_path: Path, api: tuple[FakeApi, str], status: int, headers: dict[str, str]
) -> None:
    state, base = api
    state.busy = [(status, headers), (status, headers)]
    done = lockgate(
        ["report", str(ci_run(tmp_path, "pass")), "--post", "github"], github_env(tmp_path, base)
    )
    assert done.returncode == 0, done.stderr
    assert "verdict **pass**" in state.comments[THREAD][0]["body"]


def test_a_long_rate_limit_fails_at_once_saying_when(
    tmp_path: Path, api: tuple[FakeApi, str]
) -> None:
    state, base = api
    state.busy = [(403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "9999999999"})]
    done = lockgate(
        ["report", str(ci_run(tmp_path, "pass")), "--post", "github"], github_env(tmp_path, base)
    )
    (line,) = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "rate limited for" in line and "again later" in line
    assert len(state.requests) == 1


def test_5xx_is_retried_and_a_lost_reply_makes_no_second_comment(
    tmp_path: Path, api: tuple[FakeApi, str]
) -> None:
    state, base = api
    thread = github_thread(github_env(tmp_path, base))
    assert thread is not None
    waits: list[float] = []
    state.busy = [(503, {}), (502, {})]
    state.lost_reply = True  # the POST is stored, but its answer is a 502
    assert post_report(thread, "report", sleep=waits.append) == ("updated", 101)
    assert len(state.comments[THREAD]) == 1 and len(waits) == 3


def test_5xx_every_time_is_one_clear_error(tmp_path: Path, api: tuple[FakeApi, str]) -> None:
    state, base = api
    thread = github_thread(github_env(tmp_path, base))
    assert thread is not None
    state.busy = [(503, {})] * 10
    with pytest.raises(PostError, match=r"\(503 .*the server failed 4 times; run the report job"):
        post_report(thread, "report", sleep=lambda s: None)


def test_a_token_with_a_line_break_never_reaches_a_message(
    tmp_path: Path, api: tuple[FakeApi, str]
) -> None:
    _, base = api
    env = github_env(tmp_path, base, TOKEN + "\n")  # a secret stored with its newline: fine
    assert (
        lockgate(["report", str(ci_run(tmp_path, "pass")), "--post", "github"], env).returncode == 0
    )
    env = github_env(tmp_path, base, TOKEN + "\nX-Extra: 1")
    done = lockgate(["report", str(ci_run(tmp_path, "pass")), "--post", "github"], env)
    (line,) = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "GITHUB_TOKEN holds spaces, line breaks" in line
    assert TOKEN not in done.stderr + done.stdout


def test_a_redirect_to_another_host_gets_no_token(tmp_path: Path, api: tuple[FakeApi, str]) -> None:
    state, base = api
    with serve() as (elsewhere, other):
        state.busy = [(302, {"Location": f"{other}/user"})]
        done = lockgate(
            ["report", str(ci_run(tmp_path, "pass")), "--post", "github"],
            github_env(tmp_path, base),
        )
        assert elsewhere.requests == []
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"GITHUB_ACTIONS": "true"}, "this is a GitHub Actions run; use --post github"),
        ({"CI_MERGE_REQUEST_IID": "3/../../9"}, "CI_MERGE_REQUEST_IID '3/../../9' is not a number"),
    ],
)
def test_gitlab_wrong_provider_or_bad_iid_is_one_line(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    done = lockgate(["report", str(ci_run(tmp_path, "pass")), "--post", "gitlab"], env)
    (line,) = done.stderr.strip().splitlines()
    assert done.returncode == 2 and expected in line


@pytest.mark.parametrize(
    "event, expected",
    [
        ("{not json", "GITHUB_EVENT_PATH"),
        (None, "no such file"),
    ],
)
def test_github_bad_event_file_is_one_line(
    tmp_path: Path, event: str | None, expected: str
) -> None:
    env = github_env(tmp_path, "http://127.0.0.1:9")
    if event is None:
        Path(env["GITHUB_EVENT_PATH"]).unlink()
    else:
        Path(env["GITHUB_EVENT_PATH"]).write_text(event)
    done = lockgate(["report", str(ci_run(tmp_path, "pass")), "--post", "github"], env)
    (line,) = done.stderr.strip().splitlines()
    assert done.returncode == 2 and expected in line and "internal error" not in line


def test_github_post_in_gitlab_says_so(tmp_path: Path) -> None:
    done = lockgate(
        ["report", str(ci_run(tmp_path, "pass")), "--post", "github"], {"GITLAB_CI": "true"}
    )
    (line,) = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "use --post gitlab" in line


def test_a_key_that_would_break_the_marker_is_refused(tmp_path: Path) -> None:
    done = lockgate(
        [
            "report",
            str(ci_run(tmp_path, "pass")),
            "--post",
            "github",
            "--key",
            "x --> <img src=https://evil.example/p.png>",
        ],
        {},
    )
    (line,) = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "report --key" in line


def test_the_job_token_as_gitlab_token_says_what_to_store(
    tmp_path: Path, api: tuple[FakeApi, str]
) -> None:
    state, base = api
    env = {**gitlab_env(base), "CI_JOB_TOKEN": TOKEN}
    done = lockgate(["report", str(ci_run(tmp_path, "pass")), "--post", "gitlab"], env)
    (line,) = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "is the job token" in line and "project access token" in line
    assert state.requests == [] and TOKEN not in done.stderr


def test_gitlab_a_stage_cannot_run_quick_actions(tmp_path: Path, api: tuple[FakeApi, str]) -> None:
    """GitLab runs quick actions (/merge, /approve, /label) in a note the API creates, with the
    token's rights: no line a stage wrote may start with one (fenced code is not run)."""
    state, base = api
    run = ci_run(tmp_path, "pass")
    (run / "evaluate" / "report.md").write_text(
        "/approve\n  /merge\n/label ~approved\nsee /srv/x\n```\n/in-code\n```\n"
    )
    done = lockgate(["report", str(run), "--post", "gitlab"], gitlab_env(base))
    assert done.returncode == 0, done.stderr
    (note,) = state.comments[NOTES]
    lines = note["body"].splitlines()
    assert [line for line in lines if line.lstrip().startswith("/")] == ["/in-code"]
    assert "\\/approve" in lines and "  \\/merge" in lines and "see /srv/x" in lines
