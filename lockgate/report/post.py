"""Post the report as one comment per pull/merge request, and update that same comment later.

The comment starts with a hidden marker; a later run finds it and edits it instead of adding a
new one. Only a comment that starts with the marker *and* was written by the token's own account
counts: anyone can paste the marker into a comment of their own, and that comment is left
alone. GitHub: the issues comments REST API (a PR is an issue), with ``GITHUB_TOKEN`` and
``pull-requests: write``. The token's account is read from ``GET /user``; a GitHub App's token
cannot read it: ``GITHUB_TOKEN`` comments as ``github-actions[bot]``, another App's token as
``NAME[bot]`` (any such account counts then, unless ``LOCKGATE_COMMENT_AUTHOR`` names it).
GitLab: the merge request notes API, with a project or group access token
(``LOCKGATE_GITLAB_TOKEN``; the job token cannot write notes), whose account ``GET /user``
names.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from lockgate.report.api import Api, PostError, Refused, Unsure

__all__ = ["MARKER", "PostError", "Thread", "github_thread", "gitlab_thread", "post_report"]

MARKER = "<!-- lockgate-report:{key} -->"
PER_PAGE = 100
MAX_PAGES = 100  # 10,000 comments: a thread longer than that gets a new comment
ACTIONS_BOT = "github-actions[bot]"
ANY_APP = "[bot]"  # any GitHub App's account: no person can take a name ending so
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TOKEN = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: what a header can carry


@dataclass(frozen=True)
class Thread:
    """Where the comment goes: the list/create URL, how to edit one, whose comments are ours."""

    provider: str
    comments_url: str
    edit_url: str  # format with {id}
    edit_method: str
    user_url: str  # GET: the token's own account
    headers: dict[str, str]
    token: str
    author: str | None = None  # LOCKGATE_COMMENT_AUTHOR: the account the token comments as
    fallback: str | None = None  # whose comments are ours when GET /user is refused


def marker(key: str) -> str:
    if not _KEY.match(key):
        raise PostError(
            f"report --key {key[:80]!r}: use letters, digits, '.', '_' or '-' (at most 64)"
        )
    return MARKER.format(key=key)


def github_thread(env: dict[str, str], number: int | None = None) -> Thread | None:
    """The open PR of this Actions run; None when the run is not for a pull request."""
    number = number or _github_pr_number(env)
    if number is None:
        return None
    repo = _need(env, "GITHUB_REPOSITORY", "github")
    token = _token(env, "GITHUB_TOKEN", "github")
    api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    author = env.get("LOCKGATE_COMMENT_AUTHOR") or None
    return Thread(
        "github",
        f"{api}/repos/{repo}/issues/{number}/comments",
        f"{api}/repos/{repo}/issues/comments/{{id}}",
        "PATCH",
        f"{api}/user",
        {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
        token,
        author,
        ACTIONS_BOT if env.get("GITHUB_ACTIONS") == "true" else ANY_APP,
    )


def gitlab_thread(env: dict[str, str], iid: int | None = None) -> Thread | None:
    """The merge request of this pipeline; None for pipelines without one."""
    raw = str(iid or env.get("CI_MERGE_REQUEST_IID") or "").strip()
    if not raw:
        if env.get("GITHUB_ACTIONS") == "true":
            raise PostError("report --post gitlab: this is a GitHub Actions run; use --post github")
        return None
    if not raw.isdigit():
        raise PostError(f"report --post gitlab: CI_MERGE_REQUEST_IID {raw[:40]!r} is not a number")
    api = _need(env, "CI_API_V4_URL", "gitlab").rstrip("/")
    project = urllib.parse.quote(_need(env, "CI_PROJECT_ID", "gitlab"), safe="")
    token = _token(env, "LOCKGATE_GITLAB_TOKEN", "gitlab")
    if token == env.get("CI_JOB_TOKEN", "").strip():
        raise PostError(
            "report --post gitlab: LOCKGATE_GITLAB_TOKEN is the job token, which cannot write "
            "merge request notes; store a project access token (api scope, at least Reporter) "
            "as a masked CI/CD variable"
        )
    base = f"{api}/projects/{project}/merge_requests/{raw}/notes"
    author = env.get("LOCKGATE_COMMENT_AUTHOR") or None
    headers = {"PRIVATE-TOKEN": token}
    return Thread("gitlab", base, f"{base}/{{id}}", "PUT", f"{api}/user", headers, token, author)


def post_report(
    thread: Thread,
    body: str,
    key: str = "default",
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> tuple[str, int]:
    """Create or update the one marked comment; returns ("created"|"updated", its id)."""
    api = Api(thread.provider, thread.headers, thread.token, sleep=sleep, clock=clock)
    mark = marker(key)
    text = f"{mark}\n{body}"
    author = thread.author or _whoami(api, thread)
    for attempt in range(3):
        existing = _find(api, thread, mark, author)
        try:
            if existing is None:
                answer, _ = api.call("POST", thread.comments_url, {"body": text})
                return "created", _id(answer, thread)
            api.call(thread.edit_method, thread.edit_url.format(id=existing), {"body": text})
            return "updated", existing
        except Unsure:
            if attempt == 2:
                raise
            sleep(float(2**attempt))  # then look again: the comment may exist by now
    raise AssertionError("unreachable")


def _whoami(api: Api, thread: Thread) -> str:
    """The token's own account: ``GET /user``. A GitHub App's token may not read it: GITHUB_TOKEN
    comments as github-actions[bot], another App's token as NAME[bot]."""
    try:
        answer, _ = api.call("GET", thread.user_url)
    except Refused as exc:
        if exc.status != 403:
            raise
        if thread.fallback:
            return thread.fallback
        raise PostError(
            f"report --post {thread.provider}: the token may not read GET /user, so lockgate "
            "cannot tell which comment is its own: set LOCKGATE_COMMENT_AUTHOR to the username "
            "the token comments as"
        ) from None
    login = (answer.get("login") or answer.get("username")) if isinstance(answer, dict) else None
    if not login:
        raise PostError(f"report --post: {thread.provider} answered GET /user with no login")
    return str(login)


def _find(api: Api, thread: Thread, mark: str, author: str) -> int | None:
    url: str | None = f"{thread.comments_url}?per_page={PER_PAGE}&page=1"
    page = 1
    while url is not None and page <= MAX_PAGES:
        comments, next_url = api.call("GET", url)
        if not isinstance(comments, list):
            raise PostError(f"report --post: {thread.provider} answered {url} with no list")
        for comment in comments:
            if _ours(comment, mark, author):
                return _id(comment, thread)
        page += 1
        if next_url is not None:
            url = next_url
        elif len(comments) >= PER_PAGE:  # no link header: a full page may have a next one
            url = f"{thread.comments_url}?per_page={PER_PAGE}&page={page}"
        else:
            url = None
    return None


def _ours(comment: object, mark: str, author: str) -> bool:
    if not isinstance(comment, dict):
        return False
    body = str(comment.get("body") or "")
    user = comment.get("user") or comment.get("author") or {}
    login = user.get("login") or user.get("username") if isinstance(user, dict) else None
    first = body.split("\n", 1)[0].strip()
    login = str(login or "").lower()
    by = login == author.lower() or (author == ANY_APP and login.endswith(ANY_APP))
    return first == mark and by


def _id(answer: object, thread: Thread) -> int:
    value = answer.get("id") if isinstance(answer, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise PostError(f"report --post: {thread.provider} answered with no comment id")


def _github_pr_number(env: dict[str, str]) -> int | None:
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        if env.get("GITLAB_CI") == "true":
            raise PostError("report --post github: this is a GitLab CI job; use --post gitlab")
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            event = json.load(handle)
    except FileNotFoundError:
        raise PostError(f"report --post github: GITHUB_EVENT_PATH {path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise PostError(
            f"report --post github: GITHUB_EVENT_PATH {path}: not a JSON event "
            f"({type(exc).__name__}); point it at the event payload"
        ) from None
    pull = event.get("pull_request") if isinstance(event, dict) else None
    number = pull.get("number") if isinstance(pull, dict) else None
    return number if isinstance(number, int) and number > 0 else None


def _need(env: dict[str, str], name: str, provider: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise PostError(f"report --post {provider}: set {name} in the job's environment")
    return value


def _token(env: dict[str, str], name: str, provider: str) -> str:
    value = _need(env, name, provider)
    if not _TOKEN.match(value):
        raise PostError(
            f"report --post {provider}: {name} holds spaces, line breaks or other characters "
            "no token has; store the token alone"
        )
    return value
