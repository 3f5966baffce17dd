"""The few HTTP calls posting a report makes, with what the GitHub and GitLab APIs document for
busy servers: a rate limit (429, or GitHub's 403 with ``retry-after`` or
``x-ratelimit-remaining: 0``) is waited out when the wait is short, a 5xx or a dropped
connection is tried again, and pages follow the ``link`` header. The token never appears in a
message, and is never sent to another host (no redirects away, no ``next`` link elsewhere).
Standard library HTTP only.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPException, HTTPMessage
from typing import IO, Any

from lockgate.errors import LockgateError

TIMEOUT_S = 30
ATTEMPTS = 4
MAX_WAIT_S = 120.0  # a longer rate-limit wait fails at once: run the report job again later
TRANSIENT = frozenset({500, 502, 503, 504})


class PostError(LockgateError):
    """The report could not be posted; the pipeline's results are unaffected."""


class Refused(PostError):
    """The provider answered ``status`` and said no (not a rate limit: that is a PostError)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Unsure(PostError):
    """A write may or may not have happened (a 5xx or a dropped connection after sending it)."""


_HINTS = {
    401: "the token is missing or expired",
    403: "the token may not write comments (GitHub: give the report job `permissions: "
    "pull-requests: write`; pull requests from forks get a read-only token; GitLab: the "
    "access token needs the api scope and at least Reporter)",
    404: "no such pull/merge request, or the token cannot see the project",
    422: "the comment was refused as invalid (too long, or the pull request is locked)",
}


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only within the API's own scheme and host: the token goes nowhere
    else."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if _origin(newurl) != _origin(req.full_url):
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclass(frozen=True)
class Api:
    """Calls to one provider with one token; ``sleep`` and ``clock`` are the waits' clock."""

    provider: str
    headers: dict[str, str]
    secret: str
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    opener: urllib.request.OpenerDirector = field(
        default_factory=lambda: urllib.request.build_opener(_SameOrigin)
    )

    def call(self, method: str, url: str, payload: Any = None) -> tuple[Any, str | None]:
        """The decoded answer and the ``next`` page's URL (from ``link``), retrying what the
        APIs say to retry. A write that may have happened raises :class:`Unsure` instead."""
        for attempt in range(ATTEMPTS):
            last = attempt == ATTEMPTS - 1
            try:
                return self._once(method, url, payload)
            except urllib.error.HTTPError as exc:
                wait = self._wait(exc, attempt)
                if wait is None or wait > MAX_WAIT_S or last:
                    raise self._refused(method, url, exc, wait) from None
                if exc.code in TRANSIENT and method == "POST":
                    raise Unsure(self._refused(method, url, exc, None).args[0]) from None
            except ValueError:  # no scheme, a bad port: the configured API URL
                raise PostError(
                    self._clean(
                        f"report --post: {_path(url)} is not a URL the API answers at: "
                        "check GITHUB_API_URL / CI_API_V4_URL"
                    )
                ) from None
            except (urllib.error.URLError, TimeoutError, OSError, HTTPException) as exc:
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                message = self._clean(f"report --post: cannot reach {_path(url)}: {reason}")
                if last:
                    raise PostError(message) from None
                if method == "POST":
                    raise Unsure(message) from None
                wait = float(2**attempt)
            self.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    def _once(self, method: str, url: str, payload: Any) -> tuple[Any, str | None]:
        headers = {**self.headers, "User-Agent": "lockgate"}
        data = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        with self.opener.open(request, timeout=TIMEOUT_S) as response:
            raw = response.read()
            link = response.headers.get("Link")
        try:
            answer = json.loads(raw or b"null")
        except ValueError:
            raise PostError(
                f"report --post: {self.provider} answered {method} {_path(url)} with something "
                "that is not JSON: check GITHUB_API_URL / CI_API_V4_URL"
            ) from None
        return answer, _next_link(link, url)

    def _wait(self, exc: urllib.error.HTTPError, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None when this answer is final."""
        headers = exc.headers
        retry_after = headers.get("Retry-After") if headers else None
        remaining = headers.get("X-RateLimit-Remaining") if headers else None
        reset = headers.get("X-RateLimit-Reset") if headers else None
        limited = exc.code == 429 or (exc.code == 403 and (retry_after or remaining == "0"))
        if limited:
            if retry_after and retry_after.strip().isdigit():
                return float(retry_after)
            if remaining == "0" and reset and reset.strip().isdigit():
                return max(float(reset) - self.clock(), 0.0) + 1.0
            return 60.0  # GitHub: "wait for at least one minute"
        if exc.code in TRANSIENT:
            return float(2**attempt)
        return None

    def _refused(
        self, method: str, url: str, exc: urllib.error.HTTPError, wait: float | None
    ) -> PostError:
        said = _message(exc)
        line = self._clean(
            f"report --post: {self.provider} refused {method} {_path(url)} "
            f"({exc.code} {exc.reason}{': ' + said if said else ''}): "
        )
        if wait is None:
            return Refused(line + _HINTS.get(exc.code, "see the provider's answer"), exc.code)
        if wait > MAX_WAIT_S:
            hint = f"rate limited for {wait:.0f} more seconds; run the report job again later"
        elif exc.code in TRANSIENT:
            hint = f"the server failed {ATTEMPTS} times; run the report job again later"
        else:
            hint = f"still rate limited after {ATTEMPTS} tries; run the report job again later"
        return PostError(line + hint)

    def _clean(self, message: str) -> str:
        message = " ".join(message.split())
        return message.replace(self.secret, "***") if self.secret else message


def _message(exc: urllib.error.HTTPError) -> str:
    """The ``message`` the provider put in its error answer, short and on one line."""
    try:
        answer = json.loads(exc.read() or b"null")
    except (ValueError, OSError):
        return ""
    said = answer.get("message") if isinstance(answer, dict) else None
    return " ".join(str(said).split())[:200] if said else ""


_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def _next_link(link: str | None, url: str) -> str | None:
    found = _LINK_NEXT.search(link or "")
    if not found:
        return None
    target = urllib.parse.urljoin(url, found.group(1))
    return target if _origin(target) == _origin(url) else None


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.netloc


def _path(url: str) -> str:
    return url.split("?", 1)[0]
