"""A signed statement proves one command, once. The ledger records every statement with its
signature (anyone who can read the ledger has them), so a statement replayed while it is still
fresh must be refused: an approval brought back after its revocation, a health mark turned
around. Real keys, the real allowed-signers file, the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.__main__ import main
from lockgate.delivery.ledger.entry import Draft
from lockgate.delivery.ledger.ledger import FileLedger
from tests.delivery.gatekit import SPEC, digest, image
from tests.delivery.people import Team

D = digest(1)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    team = Team(tmp_path, {name: () for name in ("lena", "sre")})
    spec = SPEC.replace("policy:\n", f"policy:\n  allowed_signers: {team.allowed_signers.name}\n")
    (tmp_path / "lockgate.yaml").write_text(spec)
    for variable in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_USER_ID", "LOCKGATE_IDENTITY_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def rows(project: Path) -> list[dict]:
    lines = (project / ".lockgate" / "ledger" / "ledger.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def steal(project: Path, seq: int) -> Path:
    """The statement and signature entry ``seq`` recorded, as files a replay would pass."""
    proof = rows(project)[seq - 1]["details"]["proof"]
    stolen = project / "stolen"
    stolen.write_text(proof["statement"])
    Path(f"{stolen}.sig").write_text(proof["signature"])
    return stolen


def test_a_recorded_approval_statement_cannot_bring_back_a_revoked_approval(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lena = ["--identity-key", "keys/lena"]
    assert main(["approve", "production", "--digest", D, *lena]) == 0
    assert main(["approve", "production", "--digest", D, "--revoke", *lena]) == 0
    capsys.readouterr()
    stolen = steal(project, 1)
    assert main(["approve", "production", "--digest", D, "--signed-statement", str(stolen)]) == 1
    err = capsys.readouterr().err
    assert "identity not proven: this signed statement was already used (entry 1)" in err
    assert [r["action"] for r in rows(project)] == ["approve", "revoke", "refuse"]
    assert rows(project)[-1]["actor"] == "(unproven)"


def test_a_recorded_health_statement_cannot_turn_a_mark_around(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    FileLedger(project / ".lockgate" / "ledger").append(
        Draft(
            action="promote",
            actor="ci-bot",
            actor_source="github",
            environment="staging",
            digest=D,
            image=image(1),
        )
    )
    sre = ["--identity-key", "keys/sre"]
    assert main(["health", "staging", "--mark", "unhealthy", *sre]) == 0
    assert main(["health", "staging", "--mark", "healthy", *sre]) == 0
    capsys.readouterr()
    stolen = steal(project, 2)
    code = main(["health", "staging", "--mark", "unhealthy", "--signed-statement", str(stolen)])
    assert code == 1
    assert "this signed statement was already used (entry 2)" in capsys.readouterr().err
    assert [r["action"] for r in rows(project)] == ["promote", "unhealthy", "healthy", "refuse"]


def test_a_statement_that_is_not_text_is_one_clear_refusal(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    statement = project / "statement"
    statement.write_bytes(b"lockgate statement v1\n\xff\xfe")
    Path(f"{statement}.sig").write_text("not a signature")
    code = main(["approve", "production", "--digest", D, "--signed-statement", str(statement)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"identity not proven: {statement} or {statement}.sig is not text" in err
    assert "Traceback" not in err and "internal error" not in err
