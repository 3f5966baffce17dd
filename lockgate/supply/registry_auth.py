"""How a registry wants to be spoken to: parse its ``WWW-Authenticate`` challenge and, for a
``Bearer`` challenge, fetch a token from its token server (Docker's token protocol: GET the
realm with ``service`` and ``scope``, HTTP basic credentials when there are any, anonymous
otherwise; or, for an identity token from the docker config, POST it to the realm as an OAuth2
``refresh_token`` grant). Tokens are kept per scope for the life of one client and never
printed."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lockgate.errors import LockgateError
from lockgate.supply.docker_config import IDENTITY_TOKEN_USER

_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]+))')


class RegistryError(LockgateError):
    """The registry refused, failed, or could not be reached."""


class RegistryAuthError(RegistryError):
    """The registry or its token server refused: credentials, scope, or the token itself."""


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic" (lower case)
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def error(self) -> str:
        return self.params.get("error", "")


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge in a ``WWW-Authenticate`` value (registries send one)."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {m[1].lower(): m[2] if m[2] else m[3] for m in _PARAM.finditer(rest)}
    return Challenge(scheme.lower(), params)


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


Fetch = Callable[[urllib.request.Request], tuple[int, bytes]]


def _refresh_request(
    realm: str, query: list[tuple[str, str]], scope: str, refresh_token: str
) -> urllib.request.Request:
    """The OAuth2 form docker's token specification gives for an identity (refresh) token."""
    form = [("grant_type", "refresh_token"), ("client_id", "lockgate"), *query]
    form += (
        [("scope", scope), ("refresh_token", refresh_token)]
        if scope
        else [("refresh_token", refresh_token)]
    )
    body = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(realm, data=body, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    return request


@dataclass
class TokenSource:
    """Fetches and remembers Bearer tokens for one registry host."""

    host: str
    username: str
    password: str = field(repr=False)
    fetch: Fetch
    tokens: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def who(self) -> str:
        if self.username == IDENTITY_TOKEN_USER:
            return "the identity token from the docker config"
        return f"user {self.username!r}" if self.username else "anonymous"

    def token(self, challenge: Challenge, fresh: bool = False) -> str:
        scope = challenge.params.get("scope", "")
        key = (challenge.realm, scope)
        if key in self.tokens and not fresh:
            return self.tokens[key]
        if not challenge.realm.startswith(("https://", "http://")):
            raise RegistryAuthError(
                f"registry {self.host} asked for a token without a usable realm "
                f"({challenge.realm!r}): check the registry's auth.token.realm setting"
            )
        query = [("service", challenge.params["service"])] if "service" in challenge.params else []
        if self.username == IDENTITY_TOKEN_USER:
            request = _refresh_request(challenge.realm, query, scope, self.password)
        else:
            query += [("scope", part) for part in scope.split(" ") if part]
            url = challenge.realm + ("&" if "?" in challenge.realm else "?")
            request = urllib.request.Request(url + urllib.parse.urlencode(query))
        if self.username and self.username != IDENTITY_TOKEN_USER:
            request.add_header("Authorization", basic_header(self.username, self.password))
        try:
            status, body = self.fetch(request)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryAuthError(
                f"registry {self.host}: cannot reach its token server {challenge.realm} "
                f"({reason}): check the network and the CA that signs it"
            ) from None
        if status in (401, 403):
            raise RegistryAuthError(
                f"registry {self.host}: the token server {challenge.realm} refused the "
                f"credentials ({self.who()}, HTTP {status}): check the username and password "
                f"or token (or run `docker login {self.host}`)"
            )
        if status != 200:
            raise RegistryAuthError(
                f"registry {self.host}: the token server {challenge.realm} answered HTTP {status}"
            )
        try:
            answer = json.loads(body)
            token = str(answer.get("token") or answer["access_token"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise RegistryAuthError(
                f"registry {self.host}: the token server {challenge.realm} sent no token"
            ) from None
        self.tokens[key] = token
        return token

    def refusal(self, challenge: Challenge, what: str) -> RegistryAuthError:
        """The one error for a fresh token the registry still refuses."""
        scope = challenge.params.get("scope", "")
        if challenge.error == "insufficient_scope":
            return RegistryAuthError(
                f"registry {self.host}: the token for {self.who()} does not grant {scope} "
                f"while {what}: give that account this access on the registry"
            )
        if challenge.error == "invalid_token":
            return RegistryAuthError(
                f"registry {self.host} rejected the token from {challenge.realm} as expired or "
                f"invalid while {what}: check the token server's clock and that the registry "
                "trusts its signing certificate"
            )
        return RegistryAuthError(
            f"registry {self.host} refused the token for {self.who()} while {what} "
            f"({challenge.error or 'no reason given'}): check the account's access"
        )
