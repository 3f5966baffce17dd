"""Post the report as one comment per pull/merge request, and update that same comment later.

The comment carries a hidden marker; a later run finds it and edits it instead of adding a new
one. GitHub: the issues comments REST API (a PR is an issue), with ``GITHUB_TOKEN`` and
``pull-requests: write``. GitLab: the merge request notes API, with a project or group access
token (``LOCKGATE_GITLAB_TOKEN``; the job token cannot write notes). Standard library HTTP only.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from lockgate.errors import LockgateError

MARKER = "<!-- lockgate-report:{key} -->"
PER_PAGE = 100
TIMEOUT_S = 30


class PostError(LockgateError):
    """The report could not be posted; the pipeline's results are unaffected."""


@dataclass(frozen=True)
class Thread:
    """Where the comment goes: the list/create URL, how to edit one, and the auth header."""

    provider: str
    comments_url: str
    edit_url: str  # format with {id}
    edit_method: str
    headers: dict[str, str]


def github_thread(env: dict[str, str], number: int | None = None) -> Thread | None:
    """The open PR of this Actions run; None when the run is not for a pull request."""
    number = number or _github_pr_number(env)
    if number is None:
        return None
    repo = _need(env, "GITHUB_REPOSITORY", "github")
    token = _need(env, "GITHUB_TOKEN", "github")
    api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    return Thread(
        "github",
        f"{api}/repos/{repo}/issues/{number}/comments",
        f"{api}/repos/{repo}/issues/comments/{{id}}",
        "PATCH",
        {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    )


def gitlab_thread(env: dict[str, str], iid: int | None = None) -> Thread | None:
    """The merge request of this pipeline; None for pipelines without one."""
    raw = iid or env.get("CI_MERGE_REQUEST_IID")
    if not raw:
        return None
    api = _need(env, "CI_API_V4_URL", "gitlab").rstrip("/")
    project = _need(env, "CI_PROJECT_ID", "gitlab")
    token = _need(env, "LOCKGATE_GITLAB_TOKEN", "gitlab")
    base = f"{api}/projects/{project}/merge_requests/{raw}/notes"
    return Thread("gitlab", base, f"{base}/{{id}}", "PUT", {"PRIVATE-TOKEN": token})


def post_report(thread: Thread, body: str, key: str = "default") -> tuple[str, int]:
    """Create or update the one marked comment; returns ("created"|"updated", its id)."""
    marker = MARKER.format(key=key)
    text = f"{marker}\n{body}"
    existing = _find(thread, marker)
    payload = json.dumps({"body": text}).encode()
    if existing is None:
        answer = _call(thread, "POST", thread.comments_url, payload)
        return "created", int(answer["id"])
    _call(thread, thread.edit_method, thread.edit_url.format(id=existing), payload)
    return "updated", existing


def _find(thread: Thread, marker: str) -> int | None:
    page = 1
    while True:
        url = f"{thread.comments_url}?per_page={PER_PAGE}&page={page}"
        comments = _call(thread, "GET", url, None)
        if not isinstance(comments, list):
            raise PostError(f"report --post: {thread.provider} answered {url} with no list")
        for comment in comments:
            if marker in str(comment.get("body", "")):
                return int(comment["id"])
        if len(comments) < PER_PAGE:
            return None
        page += 1


_HINTS = {
    401: "the token is missing or expired",
    403: "the token may not write comments (GitHub: give the report job `permissions: "
    "pull-requests: write`; pull requests from forks get a read-only token; GitLab: the "
    "access token needs the api scope and at least Reporter)",
    404: "no such pull/merge request, or the token cannot see the project",
    422: "the comment was refused as invalid (too long, or the pull request is locked)",
}


def _call(thread: Thread, method: str, url: str, payload: bytes | None) -> Any:
    headers = {**thread.headers, "User-Agent": "lockgate"}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=payload, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        hint = _HINTS.get(exc.code, "see the provider's answer")
        raise PostError(
            f"report --post: {thread.provider} refused {method} {_path(url)} "
            f"({exc.code} {exc.reason}): {hint}"
        ) from None
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise PostError(f"report --post: cannot reach {_path(url)}: {exc}") from None


def _path(url: str) -> str:
    return url.split("?", 1)[0]


def _github_pr_number(env: dict[str, str]) -> int | None:
    path = env.get("GITHUB_EVENT_PATH")
    if not path or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        event = json.load(handle)
    number = (event.get("pull_request") or {}).get("number")
    return int(number) if number else None


def _need(env: dict[str, str], name: str, provider: str) -> str:
    value = env.get(name)
    if not value:
        raise PostError(f"report --post {provider}: set {name} in the job's environment")
    return value
