"""A real HTTP server on loopback that records each request and answers the way the GitHub
issues-comments and GitLab merge-request-notes APIs document: comments carry their author,
``GET /user`` names the token's account (GitHub refuses it to ``GITHUB_TOKEN`` with 403
"Resource not accessible by integration"), lists are paged with a ``link`` header and at most
100 per page, and a server under load answers 429 / 403 with ``retry-after`` or a 5xx. It stands
in for github.com and gitlab.com, which the tests cannot reach."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from typing import Any

from tests.jsonhttp import JsonHandler

TOKEN = "tok-secret-1234"  # a personal or project access token: GET /user answers
ACTIONS_TOKEN = "ghs-actions-token-5678"  # GITHUB_TOKEN: GET /user refused
BOT = "lockgate-bot"
ACTIONS_BOT = "github-actions[bot]"
MAX_PER_PAGE = 100

Answer = tuple[int, Any, dict[str, str]]


class FakeApi:
    """Comments in memory, by thread URL. ``refuse`` makes every write answer that status;
    ``busy`` holds answers (status, headers) given, in order, to the next requests instead of
    serving them; ``lost_reply`` makes the next POST store its comment and answer 502."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.refuse: int | None = None
        self.busy: list[tuple[int, dict[str, str]]] = []
        self.lost_reply = False
        self.link_headers = True
        self.max_per_page = MAX_PER_PAGE  # Gitea's GitHub-style API pages by 50
        self.next_id = 100
        self.base = ""

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> Answer:
        self.requests.append((method, path, headers, body))
        if self.busy:
            status, extra = self.busy.pop(0)
            return status, {"message": "You have exceeded a secondary rate limit"}, extra
        route, _, query = path.partition("?")
        user = self._user(headers)
        if route.endswith("/user"):
            if user is None:
                return 401, {"message": "Bad credentials"}, {}
            if headers.get("authorization") == f"Bearer {ACTIONS_TOKEN}":
                return 403, {"message": "Resource not accessible by integration"}, {}
            return 200, {"login": user, "username": user, "id": 9}, {}
        if method in ("POST", "PATCH", "PUT") and self.refuse:
            return self.refuse, {"message": "Resource not accessible by integration"}, {}
        if method == "GET":
            return self._list(route, query)
        if method == "POST":
            self.next_id += 1
            who = {"login": user} if "/notes" not in route else {"username": user}
            comment = {"id": self.next_id, "body": body["body"], "user": who}
            if "/notes" in route:
                comment["author"] = comment.pop("user")
            self.comments.setdefault(route, []).append(comment)
            if self.lost_reply:
                self.lost_reply = False
                return 502, {"message": "Bad Gateway"}, {}
            return 201, comment, {}
        # PATCH .../issues/comments/ID (GitHub) or PUT .../notes/ID (GitLab)
        wanted = int(route.rstrip("/").split("/")[-1])
        for items in self.comments.values():
            for comment in items:
                if comment["id"] == wanted:
                    comment["body"] = body["body"]
                    return 200, comment, {}
        return 404, {"message": "Not Found"}, {}

    def _user(self, headers: dict[str, str]) -> str | None:
        if headers.get("authorization") == f"Bearer {TOKEN}" or headers.get("private-token") == (
            TOKEN
        ):
            return BOT
        if headers.get("authorization") == f"Bearer {ACTIONS_TOKEN}":
            return ACTIONS_BOT
        return None

    def _list(self, route: str, query: str) -> Answer:
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        items = self.comments.get(route, [])
        size = min(int(params.get("per_page", 30)), self.max_per_page)
        page = int(params.get("page", 1))
        extra = {}
        if self.link_headers and page * size < len(items):
            extra["Link"] = f'<{self.base}{route}?per_page={size}&page={page + 1}>; rel="next"'
        return 200, items[(page - 1) * size : page * size], extra


@contextmanager
def serve() -> Iterator[tuple[FakeApi, str]]:
    state = FakeApi()

    class Handler(JsonHandler):
        def _serve(self) -> None:
            raw = self.body()
            status, answer, extra = state.handle(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                json.loads(raw) if raw else None,
            )
            self.reply(status, answer, extra)

        do_GET = do_POST = do_PATCH = do_PUT = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state, state.base
    finally:
        server.shutdown()
        server.server_close()
