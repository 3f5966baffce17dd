"""approve, history, audit, health and promote through the real CLI entry point, with the
identity taken from CI variables (GITHUB_ACTOR) as in a pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.__main__ import main
from tests.delivery.gatekit import SPEC, digest, image

D = digest(1)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "lockgate.yaml").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def as_user(monkeypatch: pytest.MonkeyPatch, who: str) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", who)


def test_approve_history_and_audit(project: Path, monkeypatch, capsys) -> None:
    as_user(monkeypatch, "lena")
    assert main(["approve", "production", "--digest", D, "--expires", "2h"]) == 0
    assert "lena approved" in capsys.readouterr().out
    as_user(monkeypatch, "mallory")
    assert main(["approve", "production", "--digest", D]) == 1
    assert "mallory (github) is not an approver of production" in capsys.readouterr().err
    assert main(["history", "production", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["action"], r["actor"], r["actor_source"]) for r in rows] == [
        ("approve", "lena", "github"),
        ("refuse", "mallory", "github"),
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
    assert "--expires: expected seconds or a duration" in capsys.readouterr().err


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
