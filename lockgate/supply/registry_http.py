"""The HTTP side of one registry: where it is and how to reach it (:class:`RegistryAccess`, the
transport), and :class:`RegistrySession`, which sends one request as the registry wants it. It
answers what the registry asks for: a ``Bearer`` challenge gets a token from the registry's token
server (anonymous, or with credentials), a ``Basic`` challenge gets the credentials. Credentials
come from the caller or, when none are given, from the docker config. TLS is verified (system CAs
plus an optional private CA). Connection failures and 5xx answers are retried a bounded number of
times with backoff; a refusal is reported at once, naming the registry and what to do.
"""

from __future__ import annotations

import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lockgate.loopback import is_loopback_host, require_plain_http_loopback
from lockgate.retrying import AttemptsExhausted, Backoff, TryAgain, retry
from lockgate.supply.docker_config import credentials_for
from lockgate.supply.registry_auth import (
    RegistryError,
    TokenSource,
    basic_header,
    parse_challenge,
)


def env_credentials(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The registry user and password a command takes from its environment:
    ``LOCKGATE_REGISTRY_USER`` (``LOCKGATE_REGISTRY_USERNAME``, the name ``verify`` read before,
    is taken as well) and ``LOCKGATE_REGISTRY_PASSWORD``; empty when unset."""
    env = os.environ if env is None else env
    user = env.get("LOCKGATE_REGISTRY_USER") or env.get("LOCKGATE_REGISTRY_USERNAME", "")
    return user, env.get("LOCKGATE_REGISTRY_PASSWORD", "")


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach one registry: scheme, credentials, CA. Passwords never appear in repr."""

    host: str
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: Path | None = None
    plain_http: bool = False

    def __post_init__(self) -> None:
        if self.plain_http:
            require_plain_http_loopback(self.host, "registry")

    @property
    def base_url(self) -> str:
        return f"{'http' if self.plain_http else 'https'}://{self.host}"


def is_loopback(host: str) -> bool:
    """Whether a registry host (``NAME[:PORT]``) is on this machine's loopback interface (one
    rule for every plain-HTTP decision: :mod:`lockgate.loopback`; ``127.evil.example`` is not)."""
    return is_loopback_host(host)


def plain_http_hint(host: str, what: str) -> str:
    if is_loopback(host):
        return (
            f"registry {host} answers plain HTTP, not HTTPS, while {what}: for a local test "
            "registry pass --plain-http (promote, rollback, verify) or set "
            "LOCKGATE_VERIFY_PLAIN_HTTP=1"
        )
    return (
        f"registry {host} answers plain HTTP, not HTTPS, while {what}: plain HTTP is allowed "
        "only for a registry on loopback (127.0.0.1, localhost); serve this one with TLS"
    )


def require_loopback_for_plain_http(access: RegistryAccess) -> None:
    if access.plain_http and not is_loopback(access.host):
        raise RegistryError(
            f"--plain-http: registry {access.host} is not on loopback (127.0.0.1, localhost, "
            "[::1]); plain HTTP would send credentials and images unprotected: serve it with TLS"
        )


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes


Transport = Callable[[urllib.request.Request], HttpAnswer]


def urllib_transport(access: RegistryAccess, timeout: float = 30.0) -> Transport:
    context = ssl.create_default_context()
    if access.ca_file is not None:
        context.load_verify_locations(cafile=str(access.ca_file))
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))

    def send(request: urllib.request.Request) -> HttpAnswer:
        try:
            with opener.open(request, timeout=timeout) as resp:
                return HttpAnswer(resp.status, dict(resp.headers.items()), resp.read())
        except urllib.error.HTTPError as exc:
            return HttpAnswer(exc.code, dict(exc.headers.items()), exc.read())

    return send


def header(answer: HttpAnswer, name: str) -> str:
    """A response header by name, in any case; ``""`` when absent."""
    wanted = name.lower()
    return next((v for k, v in answer.headers.items() if k.lower() == wanted), "")


class RegistrySession:
    """Authorized, retried requests to one registry; remembers the ``Authorization`` value the
    registry last accepted and the tokens it was given."""

    def __init__(
        self,
        access: RegistryAccess,
        transport: Transport | None = None,
        *,
        attempts: int = 4,
        backoff_s: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.access = access
        self.transport = transport or urllib_transport(access)
        self.attempts, self.backoff_s, self.sleep = attempts, backoff_s, sleep
        user, password = access.username, access.password
        if not user:
            user, password = credentials_for(access.host) or ("", "")
        self._user, self._password = user, password
        self._auth: str | None = None  # the Authorization value the registry last accepted
        self._tokens = TokenSource(access.host, user, password, self._fetch)

    # -- low level ---------------------------------------------------------------------------
    def _fetch(self, request: urllib.request.Request) -> tuple[int, bytes]:
        answer = self.transport(request)
        return answer.status, answer.body

    def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        auth: str | None,
    ) -> HttpAnswer:
        all_headers = dict(headers)
        if auth:
            all_headers["Authorization"] = auth
        return self.transport(
            urllib.request.Request(url, data=body, method=method, headers=all_headers)
        )

    def _authorized(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str], what: str
    ) -> HttpAnswer:
        """Send once; on a challenge, authenticate as asked and send once more."""
        answer = self._send(method, url, body, headers, self._auth)
        if answer.status != 401:
            return self._checked(answer, what)
        challenge = parse_challenge(header(answer, "WWW-Authenticate"))
        if challenge is not None and challenge.scheme == "bearer":
            auth = "Bearer " + self._tokens.token(challenge, fresh=True)
            answer = self._send(method, url, body, headers, auth)
            if answer.status == 401:
                again = parse_challenge(header(answer, "WWW-Authenticate")) or challenge
                raise self._tokens.refusal(again, what)
        elif challenge is not None and challenge.scheme == "basic" and self._user:
            auth = basic_header(self._user, self._password)
            answer = self._send(method, url, body, headers, auth)
        else:
            auth = None
        if answer.status != 401:
            self._auth = auth
        return self._checked(answer, what)

    def _checked(self, answer: HttpAnswer, what: str) -> HttpAnswer:
        if answer.status in (401, 403):
            raise RegistryError(
                f"registry {self.access.host} refused the credentials ({self._tokens.who()}, "
                f"HTTP {answer.status}) while {what}: check the registry username/password "
                f"(or run `docker login {self.access.host}`)"
            )
        return answer

    def call(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        what: str,
    ) -> HttpAnswer:
        def attempt(_: int) -> HttpAnswer:
            try:
                answer = self._authorized(method, url, body, headers or {}, what)
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if "WRONG_VERSION_NUMBER" in str(reason):  # TLS spoken to a plain-HTTP server
                    raise RegistryError(plain_http_hint(self.access.host, what)) from None
                raise TryAgain(f"cannot reach {self.access.base_url} ({reason})") from None
            if answer.status >= 500:
                raise TryAgain(f"HTTP {answer.status} from {self.access.host}")
            return answer

        try:
            return retry(attempt, Backoff(self.attempts, self.backoff_s, sleep=self.sleep))
        except AttemptsExhausted as exc:
            last = exc.last
            raise RegistryError(f"{what} failed after {exc.attempts} attempts: {last}") from None
