"""``--json`` on the commands a machine reads: one JSON document on stdout, the content right,
and errors still exit non-zero with a JSON error object. Through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lockgate.__main__ import main
from tests.delivery.gatekit import SPEC, digest
from tests.delivery.people import Team, with_allowed_signers

D = digest(1)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    team = Team(tmp_path, {"lena": (), "mallory": ()})
    (tmp_path / "lockgate.yaml").write_text(with_allowed_signers(SPEC, team))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOCKGATE_IDENTITY_KEY", str(team.key("lena")))
    return tmp_path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)  # exactly one document, or this raises


def test_validate_and_plan(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run_json(capsys, "validate")
    assert code == 0 and doc["ok"] is True
    assert Path(doc["spec"]) == project / "lockgate.yaml"
    code, rows = run_json(capsys, "plan")
    assert code == 0
    assert [row["stage"] for row in rows] == doc["stages"] and doc["stages"]


def test_validate_error_is_a_json_object(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "lockgate.yaml").write_text("version: 1\npipeline: [\n")
    code, doc = run_json(capsys, "validate")
    assert code != 0 and doc["ok"] is False and doc["exit_code"] == code
    assert "lockgate.yaml:" in doc["error"]


def test_approve_history_audit(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run_json(capsys, "approve", "production", "--digest", D, "--expires", "2h")
    assert code == 0
    assert (doc["action"], doc["environment"], doc["digest"], doc["status"], doc["ok"]) == (
        "approve",
        "production",
        D,
        "approved",
        True,
    )
    assert doc["seqs"] == [1] and "lena approved" in " ".join(doc["lines"])
    code, rows = run_json(capsys, "history", "production")
    assert code == 0 and [(r["action"], r["actor"]) for r in rows] == [("approve", "lena")]
    code, doc = run_json(capsys, "audit", "verify")
    assert code == 0 and doc["ok"] is True and doc["entries"] == 1 and doc["problems"] == []
    ledger = project / ".lockgate" / "ledger" / "ledger.jsonl"
    ledger.write_bytes(ledger.read_bytes().replace(b'"actor":"lena"', b'"actor":"omar"'))
    code, doc = run_json(capsys, "audit", "verify")
    assert code == 1 and doc["ok"] is False and doc["first_bad_seq"] == 1 and doc["problems"]


def test_refusals_are_json_and_exit_non_zero(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOCKGATE_IDENTITY_KEY", str(project / "keys" / "mallory"))
    code, doc = run_json(capsys, "approve", "production", "--digest", D)
    assert code == 1 and doc["status"] == "refused" and doc["ok"] is False
    assert "mallory (ssh-key) is not an approver of production" in " ".join(doc["lines"])
    monkeypatch.setenv("LOCKGATE_VERIFY_PLAIN_HTTP", "1")
    ref = "127.0.0.1:9/models/absent@sha256:" + "ab" * 32
    code, doc = run_json(capsys, "promote", "staging", "--image", ref)
    assert code == 1 and doc["action"] == "promote" and doc["ok"] is False
    assert doc["lines"][0].startswith(f"verify failed for {ref}")
    code, doc = run_json(capsys, "rollback", "staging")
    assert code != 0 and doc["ok"] is False


def test_lineage_and_verify_errors(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, found = run_json(capsys, "lineage", "models:/churn/7")
    assert code == 1 and [x["subject"] for x in found] == ["models:/churn/7"]
    assert found[0]["links"][0]["status"] == "broken"
    assert found[0]["links"][0]["detail"] == "no release of this model version is in the ledger"
    code, doc = run_json(capsys, "verify", "registry.example/app@sha256:" + "ab" * 32)
    assert code == doc["exit_code"] == 2 and doc["ok"] is False
    assert doc["error"] == "verify flags: (policy): give exactly one of key or keyless"
