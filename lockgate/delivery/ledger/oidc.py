"""The CI system's OpenID Connect token: obtained from the CI, verified against its issuer.

- GitHub Actions: requested from ``ACTIONS_ID_TOKEN_REQUEST_URL`` with
  ``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` (the job needs ``permissions: id-token: write``).
- GitLab CI: an ``id_tokens:`` variable (by default ``LOCKGATE_ID_TOKEN``) with the audience set.
- Jenkins: the OIDC provider plugin's credential bound to that same variable.

Verification: the issuer's discovery document (``/.well-known/openid-configuration``) names its
JWKS; the token's signature must verify with a key there, and its issuer, audience, expiry and
not-before must hold. Issuers are fetched over HTTPS (plain HTTP only on loopback).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lockgate.errors import LockgateError
from lockgate.loopback import require_https_or_loopback

GITHUB_REQUEST = ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
TOKEN_VARIABLE = "LOCKGATE_ID_TOKEN"
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"]


class TokenRefused(LockgateError):
    exit_code = 1


@dataclass(frozen=True)
class TrustedIssuer:
    issuer: str
    audience: str
    actor_claim: str  # GitHub: actor, GitLab: user_login, Jenkins: as the plugin is configured


def ci_token(env: Mapping[str, str], audience: str, token_variable: str = TOKEN_VARIABLE) -> str:
    """The raw token the CI hands this job, or "" when the job has none."""
    if env.get(token_variable):
        return env[token_variable]
    url, bearer = (env.get(v, "") for v in GITHUB_REQUEST)
    if not (url and bearer):
        return ""
    sep = "&" if "?" in url else "?"
    request = urllib.request.Request(
        f"{url}{sep}audience={urllib.parse.quote(audience)}",
        headers={"Authorization": f"bearer {bearer}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return str(json.loads(answer.read())["value"])
    except (OSError, ValueError, KeyError) as exc:
        raise TokenRefused(
            f"could not obtain the CI's OIDC token from {GITHUB_REQUEST[0]}: {exc}"
        ) from None


def _get_json(url: str) -> Any:
    require_https_or_loopback(url, "OIDC issuer")
    try:
        with urllib.request.urlopen(url, timeout=20) as answer:
            return json.loads(answer.read())
    except (OSError, ValueError) as exc:
        raise TokenRefused(f"cannot fetch {url}: {exc}") from None


def verify_token(
    token: str, trusted: tuple[TrustedIssuer, ...], leeway: int = 30
) -> tuple[TrustedIssuer, dict[str, Any]]:
    """The issuer settings and the verified claims of ``token``; :class:`TokenRefused` saying
    which check failed otherwise."""
    import jwt

    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenRefused(f"OIDC token is not a JWT: {exc}") from None
    issuer = str(unverified.get("iss", ""))
    match = [t for t in trusted if t.issuer.rstrip("/") == issuer.rstrip("/")]
    if not match:
        known = ", ".join(t.issuer for t in trusted) or "none (policy.oidc)"
        raise TokenRefused(f"OIDC token issuer {issuer!r} is not trusted (trusted: {known})")
    settings = match[0]
    discovery = _get_json(settings.issuer.rstrip("/") + "/.well-known/openid-configuration")
    if str(discovery.get("issuer", "")).rstrip("/") != settings.issuer.rstrip("/"):
        raise TokenRefused(f"{settings.issuer}: discovery document names another issuer")
    jwks_uri = str(discovery.get("jwks_uri", ""))
    try:
        keys = jwt.PyJWKSet.from_dict(_get_json(jwks_uri))
        key = next(k for k in keys.keys if k.key_id == header.get("kid"))
    except (jwt.PyJWTError, StopIteration):
        raise TokenRefused(
            f"OIDC token signature: no key {header.get('kid')!r} in {jwks_uri}"
        ) from None
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=settings.audience,
            issuer=settings.issuer,
            leeway=leeway,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenRefused("OIDC token expired") from None
    except jwt.ImmatureSignatureError:
        raise TokenRefused("OIDC token is not valid yet (nbf/iat in the future)") from None
    except jwt.InvalidAudienceError:
        raise TokenRefused(
            f"OIDC token audience is not {settings.audience!r} (set the job's token audience)"
        ) from None
    except jwt.InvalidSignatureError:
        raise TokenRefused(f"OIDC token signature does not verify with {jwks_uri}") from None
    except jwt.PyJWTError as exc:
        raise TokenRefused(f"OIDC token refused: {exc}") from None
    actor = claims.get(settings.actor_claim)
    if not isinstance(actor, str) or not actor:
        raise TokenRefused(f"OIDC token has no {settings.actor_claim!r} claim to name the actor")
    return settings, claims
