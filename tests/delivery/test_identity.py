"""Proving who acts: signed statements checked against a real allowed-signers file, and OIDC
tokens verified against a test issuer served on loopback by a real HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lockgate.delivery.ledger import sshsig
from lockgate.delivery.ledger.identity import (
    IdentityNotProven,
    IdentitySettings,
    Statement,
    prove_identity,
    statement_for,
)
from lockgate.delivery.ledger.oidc import TrustedIssuer
from tests.delivery.oidc_issuer import Issuer, serve_issuer
from tests.delivery.people import Team

NOW = datetime.now(UTC).replace(microsecond=0)
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


@pytest.fixture
def team(tmp_path: Path) -> Team:
    return Team(tmp_path, {"lena": ("ml-leads",), "omar": ()}, strangers=("mallory",))


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with serve_issuer() as served:
        yield served


def settings(team: Team, issuer: Issuer | None = None) -> IdentitySettings:
    trusted = (TrustedIssuer(issuer.url, "lockgate", "actor"),) if issuer else ()
    return IdentitySettings(allowed_signers=team.allowed_signers, issuers=trusted)


def refused(**kw) -> IdentityNotProven:
    with pytest.raises(IdentityNotProven) as caught:
        prove_identity(now=NOW, env=kw.pop("env", {}), **kw)
    return caught.value


def test_a_listed_key_proves_its_person_and_groups(team: Team) -> None:
    who = prove_identity(
        settings(team),
        statement_for("approve", "production", D1, NOW),
        now=NOW,
        identity_key=team.key("lena"),
        env={"GITHUB_ACTOR": "omar"},  # a claim: ignored
    )
    assert (who.name, who.source, who.groups) == ("lena", "ssh-key", ("ml-leads",))
    assert who.names() == {"lena", "@ml-leads"}
    assert who.proof["method"] == "ssh-key" and who.proof["key"].startswith("SHA256:")
    assert who.proof["listed"] == f"{team.allowed_signers}:1"
    assert "digest: " + D1 in who.proof["statement"]


@pytest.mark.parametrize("variable", ["GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_USER_ID"])
def test_ci_variables_alone_prove_nothing(team: Team, variable: str) -> None:
    why = refused(
        settings=settings(team),
        wanted=statement_for("approve", "production", D1, NOW),
        env={variable: "lena"},
    )
    assert why.claimed == f"{variable}=lena"
    assert f"{variable}=lena is a claim anyone can set, not a proof" in str(why)


def test_a_key_not_in_allowed_signers_is_refused(team: Team) -> None:
    why = refused(
        settings=settings(team),
        wanted=statement_for("approve", "production", D1, NOW),
        identity_key=team.key("mallory"),
    )
    assert why.claimed.startswith("key SHA256:")
    assert "is not in the allowed-signers file" in why.reason


def signed_by(team: Team, who: str, statement: Statement, folder: Path) -> Path:
    path = folder / f"{who}-statement"
    path.write_text(statement.text())
    key = sshsig.load_private_key(team.key(who))
    Path(f"{path}.sig").write_text(sshsig.sign(key, statement.text().encode()))
    return path


@pytest.mark.parametrize(
    ("wanted", "what"),
    [
        (Statement("approve", "production", D2, ""), f"digest {D1}, not {D2}"),
        (Statement("approve", "staging", D1, ""), "environment production, not staging"),
        (Statement("revoke", "production", D1, ""), "op approve, not revoke"),
    ],
)
def test_a_signed_statement_cannot_be_replayed_for_another_digest_or_environment(
    team: Team, tmp_path: Path, wanted: Statement, what: str
) -> None:
    signed = signed_by(team, "lena", statement_for("approve", "production", D1, NOW), tmp_path)
    assert (
        prove_identity(
            settings(team),
            statement_for("approve", "production", D1, NOW),
            now=NOW,
            signed_statement=signed,
        ).name
        == "lena"
    )
    why = refused(settings=settings(team), wanted=wanted, signed_statement=signed)
    assert what in why.reason and "cannot be reused" in why.reason


def test_a_stale_or_tampered_statement_is_refused(team: Team, tmp_path: Path) -> None:
    old = statement_for("approve", "production", D1, NOW - timedelta(hours=2))
    signed = signed_by(team, "lena", old, tmp_path)
    wanted = statement_for("approve", "production", D1, NOW)
    assert (
        "sign anew"
        in refused(settings=settings(team), wanted=wanted, signed_statement=signed).reason
    )
    signed = signed_by(team, "lena", wanted, tmp_path)
    later = statement_for("approve", "production", D1, NOW + timedelta(seconds=1)).text()
    signed.write_text(later)  # still fresh and for the same approval, but not what was signed
    why = refused(settings=settings(team), wanted=wanted, signed_statement=signed)
    assert "does not match the statement" in why.reason


def test_a_verified_oidc_token_names_its_actor(team: Team, issuer: Issuer) -> None:
    who = prove_identity(
        settings(team, issuer),
        statement_for("promote", "staging", D1, NOW),
        now=NOW,
        env={"LOCKGATE_ID_TOKEN": issuer.token(actor="ci-bot"), "GITHUB_ACTOR": "lena"},
    )
    assert (who.name, who.source) == ("ci-bot", "oidc")
    assert who.proof == {
        "method": "oidc",
        "issuer": issuer.url,
        "claim": "actor",
        "subject": "repo:team/model:environment:production",
        "token_id": "t-1",
    }


def test_github_token_is_requested_with_the_audience(team: Team, issuer: Issuer) -> None:
    env = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{issuer.url}/request?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
    }
    who = prove_identity(
        settings(team, issuer), statement_for("promote", "staging", D1, NOW), now=NOW, env=env
    )
    assert who.name == "github-user"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (
            {"iss": "https://token.example.invalid"},
            "issuer 'https://token.example.invalid' is not trusted",
        ),
        ({"aud": "someone-else"}, "audience is not 'lockgate'"),
        ({"forged": True}, "signature does not verify"),
        ({"exp": 1_000_000_000, "iat": 999_999_000, "nbf": 999_999_000}, "OIDC token expired"),
        ({"nbf": 4_000_000_000}, "not valid yet"),
        ({"actor": None}, "no 'actor' claim"),
    ],
)
def test_bad_oidc_tokens_are_refused_with_their_reason(
    team: Team, issuer: Issuer, claims: dict, reason: str
) -> None:
    token = issuer.token(**claims)
    why = refused(
        settings=settings(team, issuer),
        wanted=statement_for("promote", "staging", D1, NOW),
        env={"LOCKGATE_ID_TOKEN": token},
    )
    assert reason in why.reason and why.claimed == "an OIDC token"


def test_an_issuer_over_plain_http_elsewhere_is_refused(team: Team, issuer: Issuer) -> None:
    remote = Issuer("http://issuer.example.invalid")
    why = refused(
        settings=IdentitySettings(issuers=(TrustedIssuer(remote.url, "lockgate", "actor"),)),
        wanted=statement_for("promote", "staging", D1, NOW),
        env={"LOCKGATE_ID_TOKEN": remote.token()},
    )
    assert "must be an https URL (plain http only on loopback)" in why.reason
