"""approve, history, audit, health and promote through the real CLI entry point, each person
proving who they are with their own key listed in the team's allowed-signers file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.__main__ import main
from tests.conftest import missing_component
from tests.delivery.gatekit import SPEC, digest, image
from tests.delivery.people import Team

D = digest(1)
PEOPLE = {name: () for name in ("lena", "mallory", "ci-bot", "sre")}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    team = Team(tmp_path, PEOPLE, strangers=("eve",))
    spec = SPEC.replace("policy:\n", f"policy:\n  allowed_signers: {team.allowed_signers.name}\n")
    (tmp_path / "lockgate.yaml").write_text(spec)
    for variable in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_USER_ID", "LOCKGATE_IDENTITY_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def as_user(monkeypatch: pytest.MonkeyPatch, who: str) -> None:
    """Act as ``who``: their own key, listed in the allowed-signers file (or not, for eve)."""
    monkeypatch.setenv("LOCKGATE_IDENTITY_KEY", str(Path("keys", who).resolve()))


def test_approve_history_and_audit(project: Path, monkeypatch, capsys) -> None:
    as_user(monkeypatch, "lena")
    assert main(["approve", "production", "--digest", D, "--expires", "2h"]) == 0
    assert "lena approved" in capsys.readouterr().out
    as_user(monkeypatch, "mallory")
    assert main(["approve", "production", "--digest", D]) == 1
    assert "mallory (ssh-key) is not an approver of production" in capsys.readouterr().err
    assert main(["history", "production", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["action"], r["actor"], r["actor_source"]) for r in rows] == [
        ("approve", "lena", "ssh-key"),
        ("refuse", "mallory", "ssh-key"),
    ]
    assert main(["audit", "verify"]) == 0
    assert "ok: 2 entries" in capsys.readouterr().out
    ledger = project / ".lockgate" / "ledger" / "ledger.jsonl"
    ledger.write_bytes(ledger.read_bytes().replace(b'"actor":"lena"', b'"actor":"omar"'))
    assert main(["audit", "verify"]) == 1
    assert "first bad entry: 1" in capsys.readouterr().err


def test_promote_refuses_what_the_real_verifier_cannot_verify(
    project: Path, monkeypatch, capsys
) -> None:
    """The real `lockgate verify` path with no trusted key configured (the spec names no
    `policy.verify` file): promotion fails closed and says why."""
    as_user(monkeypatch, "ci-bot")
    monkeypatch.setenv("LOCKGATE_VERIFY_PLAIN_HTTP", "1")
    ref = "127.0.0.1:9/models/absent@sha256:" + "ab" * 32
    code = main(["promote", "staging", "--image", ref, "--author", "dana"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"verify failed for {ref}")
    assert "give exactly one of key or keyless" in err


def test_approve_expires_in_days(project: Path, monkeypatch, capsys) -> None:
    """Approvals are often given for weeks; ``30d`` was once refused as a duration."""
    as_user(monkeypatch, "lena")
    assert main(["approve", "production", "--digest", D, "--expires", "30d"]) == 0
    assert "lena approved" in capsys.readouterr().out
    assert main(["approve", "production", "--digest", D, "--expires", "30x"]) != 0
    assert "--expires: expected a duration like 90s, 30m, 12h, 2d, 1w" in capsys.readouterr().err


def test_history_at_and_health_mark(project: Path, monkeypatch, capsys) -> None:
    from lockgate.delivery.ledger.entry import Draft
    from lockgate.delivery.ledger.ledger import FileLedger

    ledger = FileLedger(project / ".lockgate" / "ledger")
    ledger.append(
        Draft(
            action="promote",
            actor="ci-bot",
            actor_source="github",
            environment="staging",
            digest=D,
            image=image(1),
        )
    )
    as_user(monkeypatch, "sre")
    assert main(["health", "staging", "--mark", "healthy"]) == 0
    capsys.readouterr()
    assert main(["history", "staging", "--at", "2099-01-01T00:00Z"]) == 0
    out = capsys.readouterr().out
    assert image(1) in out and "healthy" in out
    assert main(["history", "staging", "--at", "2000-01-01"]) == 0
    assert "nothing released yet" in capsys.readouterr().out
    assert main(["history", "staging", "--at", "yesterday"]) == 2
    assert "expected a time like" in capsys.readouterr().err


def refusals(project: Path) -> list[dict]:
    lines = (project / ".lockgate" / "ledger" / "ledger.jsonl").read_text().splitlines()
    return [row for row in map(json.loads, lines) if row["action"] == "refuse"]


def test_a_forged_ci_variable_is_refused_and_recorded(project: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "lena")
    assert main(["approve", "production", "--digest", D]) == 1
    err = capsys.readouterr().err
    assert "identity not proven" in err and "GITHUB_ACTOR=lena is a claim anyone can set" in err
    (row,) = refusals(project)
    assert (row["actor"], row["actor_source"], row["digest"]) == ("(unproven)", "none", D)
    assert row["details"] == {"op": "approve", "claimed": "GITHUB_ACTOR=lena"}
    assert row["reason"].startswith("identity not proven: sign with your key")


def test_a_key_outside_allowed_signers_is_refused_and_recorded(
    project: Path, monkeypatch, capsys
) -> None:
    as_user(monkeypatch, "eve")
    assert main(["approve", "production", "--digest", D]) == 1
    assert "is not in the allowed-signers file" in capsys.readouterr().err
    (row,) = refusals(project)
    assert row["details"]["claimed"].startswith("key SHA256:")
    assert "is not in the allowed-signers file" in row["reason"]


def test_a_statement_signed_with_ssh_keygen_approves_once_and_not_elsewhere(
    project: Path, capsys
) -> None:
    import shutil
    import subprocess

    if shutil.which("ssh-keygen") is None:
        missing_component("ssh-keygen (openssh-client) is not installed")
    assert main(["approve", "production", "--digest", D, "--print-statement"]) == 0
    statement = project / "statement"
    statement.write_text(capsys.readouterr().out)
    subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-f", "keys/lena", "-n", "lockgate", str(statement)],
        check=True,
        capture_output=True,
    )
    signed = ["--signed-statement", str(statement)]
    assert main(["approve", "production", "--digest", D, *signed]) == 0
    assert "lena approved" in capsys.readouterr().out
    other = digest(2)
    assert main(["approve", "production", "--digest", other, *signed]) == 1
    assert main(["approve", "staging", "--digest", D, *signed]) == 1
    assert "a signature cannot be reused" in capsys.readouterr().err
    rows = refusals(project)
    assert [(r["digest"], r["environment"]) for r in rows] == [
        (other, "production"),
        (D, "staging"),
    ]
    assert all("cannot be reused" in r["reason"] for r in rows)
    lines = (project / ".lockgate" / "ledger" / "ledger.jsonl").read_text().splitlines()
    approval = json.loads(lines[0])
    assert approval["details"]["proof"]["method"] == "ssh-key"
    assert approval["details"]["proof"]["statement"] == statement.read_text()


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({}, None),
        ({"aud": "other"}, "OIDC token audience is not 'lockgate'"),
        ({"forged": True}, "OIDC token signature does not verify"),
        ({"exp": 1_000_000_000, "iat": 999_999_000, "nbf": 999_999_000}, "OIDC token expired"),
    ],
)
def test_ci_tokens_are_verified_and_refusals_recorded(
    project: Path, monkeypatch, capsys, claims: dict, reason: str | None
) -> None:
    from tests.delivery.oidc_issuer import serve_issuer

    spec = project / "lockgate.yaml"
    with serve_issuer() as issuer:
        spec.write_text(
            spec.read_text().replace(
                "policy:\n", f"policy:\n  oidc: [{{issuer: '{issuer.url}', audience: lockgate}}]\n"
            )
        )
        monkeypatch.setenv("LOCKGATE_ID_TOKEN", issuer.token(actor="carol", **claims))
        monkeypatch.setenv("GITHUB_ACTOR", "lena")  # ignored either way
        code = main(["approve", "production", "--digest", D])
    err = capsys.readouterr().err
    rows = [
        json.loads(x) for x in (project / ".lockgate/ledger/ledger.jsonl").read_text().splitlines()
    ]
    if reason is None:
        assert code == 0, err
        assert (rows[0]["action"], rows[0]["actor"], rows[0]["actor_source"]) == (
            "approve",
            "carol",
            "oidc",
        )
        assert rows[0]["details"]["proof"]["issuer"] == issuer.url
    else:
        assert code == 1 and reason in err
        assert (rows[0]["action"], rows[0]["actor"]) == ("refuse", "(unproven)")
        assert reason in rows[0]["reason"] and rows[0]["details"]["claimed"] == "an OIDC token"
