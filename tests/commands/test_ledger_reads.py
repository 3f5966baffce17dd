"""What `history --at` and `audit verify` read: a signed ledger is read as every gate reads it
(never from the raw bytes or the unsigned index beside them), a spec that names the ledger's key
is audited with it, and a ledger folder or head anchor that is not what it should be is one
clear error. Real signed ledgers and keys, through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.__main__ import main
from lockgate.delivery.ledger.entry import Draft
from lockgate.delivery.ledger.ledger import FileLedger
from lockgate.delivery.ledger.signing import generate_key_pair, load_signer
from tests.delivery.gatekit import SPEC, digest, image
from tests.delivery.test_signed_read import rehashed

LEDGER = Path(".lockgate") / "ledger"


def promote_entry(n: int) -> Draft:
    return Draft(
        action="promote",
        actor="ci-bot",
        actor_source="github",
        environment="staging",
        digest=digest(n),
        image=image(n),
    )


@pytest.fixture
def signed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose spec names the ledger's public key, with one signed entry."""
    generate_key_pair(tmp_path / "ledger.pem", tmp_path / "ledger.pub")
    spec = SPEC.replace("policy:\n", "policy:\n  ledger: {public_key: ledger.pub}\n", 1)
    (tmp_path / "lockgate.yaml").write_text(spec)
    monkeypatch.setenv("LOCKGATE_WITNESS_DIR", str(tmp_path / "witness"))
    monkeypatch.chdir(tmp_path)
    ledger = FileLedger(tmp_path / LEDGER, signer=load_signer(tmp_path / "ledger.pem"))
    ledger.append(promote_entry(1))
    return tmp_path


def test_history_at_refuses_an_entry_edited_without_the_key(
    signed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "staging", "--at", "2099-01-01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["release"]["digest"] == digest(1)
    path = signed / LEDGER / "ledger.jsonl"
    edited = path.read_bytes().replace(digest(1).encode(), digest(666).encode())
    path.write_bytes(rehashed(edited))  # same length: the head's size still matches
    assert main(["history", "staging", "--at", "2099-01-01"]) == 2
    err = capsys.readouterr().err
    assert "entry 1 (promote by ci-bot) has a signature that does not verify" in err
    assert digest(666) not in err


def test_audit_verify_checks_with_the_key_the_spec_names(
    signed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify"]) == 0
    capsys.readouterr()
    # someone without the key writes a whole new, consistent, unsigned ledger
    for name in ("ledger.jsonl", "ledger.head"):
        (signed / LEDGER / name).unlink()
    FileLedger(signed / LEDGER).append(promote_entry(666))
    assert main(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert "FAILED audit; first bad entry: 1" in err and "entry 1: not signed" in err


@pytest.mark.parametrize("command", [["history", "staging"], ["audit", "verify"]])
def test_a_ledger_folder_that_does_not_exist_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    missing = tmp_path / "no-such-ledger"
    assert main([*command, "--ledger", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"--ledger {missing}: no such folder" in err
    assert "ok:" not in err


@pytest.mark.parametrize(
    ("head", "says"),
    [
        ('{"seq": 1}', "the head anchor has no seq, hash and size"),
        ('{"seq": "1", "hash": "x", "size": 10}', "the head anchor's seq is '1', not an int"),
        ("[1, 2]", "the head anchor has no seq, hash and size"),
    ],
)
def test_a_head_anchor_with_missing_or_mistyped_fields_is_one_clear_error(
    signed: Path, capsys: pytest.CaptureFixture[str], head: str, says: str
) -> None:
    (signed / LEDGER / "ledger.head").write_text(head)
    assert main(["history", "staging"]) == 2
    err = capsys.readouterr().err
    assert says in err and "restore it from a copy" in err
    assert main(["audit", "verify"]) == 1
    assert says in capsys.readouterr().err


def test_history_at_on_an_edited_unsigned_line_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lockgate.yaml").write_text(SPEC)
    monkeypatch.setenv("LOCKGATE_WITNESS_DIR", str(tmp_path / "witness"))
    monkeypatch.chdir(tmp_path)
    FileLedger(tmp_path / LEDGER).append(promote_entry(1))
    path = tmp_path / LEDGER / "ledger.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"actor":"ci-bot"', b'"actor":"ci-bob"'))
    assert main(["history", "staging", "--at", "2099-01-01"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: the line at byte 0 is not a well-formed entry (hash mismatch" in err
    assert "run `lockgate audit verify`" in err and "internal error" not in err
