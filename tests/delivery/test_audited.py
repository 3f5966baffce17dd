"""An audit skips only the prefix this machine audited before and finds byte for byte unchanged:
an edit inside it, a new entry after it, another key or a damaged record all get checked in full
(real signed ledgers, real Ed25519 keys; the record lives in a per-test folder)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lockgate.delivery.ledger.audit import AuditReport, audit_ledger
from lockgate.delivery.ledger.audited import UNSIGNED, AuditRecord
from lockgate.delivery.ledger.entry import Draft, read_line, seal
from lockgate.delivery.ledger.ledger import FileLedger, read_head
from lockgate.delivery.ledger.signing import (
    generate_key_pair,
    load_checker,
    load_signer,
    public_key_id,
)

Keys = tuple[Path, Path]


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    generate_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    return tmp_path / "k.pem", tmp_path / "k.pub"


def draft(n: int) -> Draft:
    return Draft("approve", "alice", "github", "production", f"sha256:{n:064x}")


def signed(folder: Path, keys: Keys, count: int) -> FileLedger:
    ledger = FileLedger(folder, signer=load_signer(keys[0]))
    for n in range(1, count + 1):
        ledger.append(draft(n))
    return ledger


def audit(folder: Path, keys: Keys, records: Path) -> AuditReport:
    record = AuditRecord(folder, public_key_id(keys[1]), records)
    return audit_ledger(folder, load_checker(keys[1]), record=record)


def test_a_second_audit_checks_only_what_was_added(tmp_path: Path, keys: Keys) -> None:
    folder, records = tmp_path / "ledger", tmp_path / "records"
    ledger = signed(folder, keys, 5)
    first = audit(folder, keys, records)
    assert first.ok and (first.entries, first.unchanged) == (5, 0)
    again = audit(folder, keys, records)
    assert again.ok and (again.entries, again.unchanged) == (5, 5)
    ledger.append(draft(6))
    later = audit(folder, keys, records)
    assert later.ok and (later.entries, later.unchanged) == (6, 5)


def test_an_unsigned_line_appended_after_the_audited_prefix_is_refused(
    tmp_path: Path, keys: Keys
) -> None:
    folder, records = tmp_path / "ledger", tmp_path / "records"
    signed(folder, keys, 3)
    assert audit(folder, keys, records).ok
    head = read_head(folder)
    assert head is not None
    line = seal(draft(4), 4, head.time, head.hash).line()  # no signature
    with open(folder / "ledger.jsonl", "ab") as f:
        f.write(line)
    raw = json.loads((folder / "ledger.head").read_text())
    raw.update(seq=4, hash=read_line(line).hash, size=head.size + len(line))
    (folder / "ledger.head").write_text(json.dumps(raw))
    report = audit(folder, keys, records)
    assert report.unchanged == 3
    assert report.problems == ("entry 4: not signed",)


def test_an_edit_inside_the_audited_prefix_is_found(tmp_path: Path, keys: Keys) -> None:
    folder, records = tmp_path / "ledger", tmp_path / "records"
    signed(folder, keys, 4)
    assert audit(folder, keys, records).ok
    data = (folder / "ledger.jsonl").read_bytes()
    (folder / "ledger.jsonl").write_bytes(data.replace(b'"actor":"alice"', b'"actor":"alicf"', 1))
    report = audit(folder, keys, records)
    assert report.unchanged == 0 and report.first_bad_seq == 1
    assert "edited: hash mismatch" in report.problems[0]


def test_a_truncated_ledger_under_a_shorter_head_is_walked_in_full(
    tmp_path: Path, keys: Keys
) -> None:
    """A record longer than what the head commits is not used: the head's signature fails."""
    folder, records = tmp_path / "ledger", tmp_path / "records"
    signed(folder, keys, 4)
    assert audit(folder, keys, records).ok
    raw = json.loads((folder / "ledger.head").read_text())
    lines = (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    (folder / "ledger.jsonl").write_bytes(b"".join(lines[:2]))
    raw.update(seq=2, hash=read_line(lines[1]).hash, size=len(lines[0]) + len(lines[1]))
    (folder / "ledger.head").write_text(json.dumps(raw))
    report = audit(folder, keys, records)
    assert report.unchanged == 0
    assert report.problems == ("the head anchor's signature does not verify",)


def test_an_unsigned_audit_never_stands_in_for_a_signed_one(tmp_path: Path, keys: Keys) -> None:
    folder, records = tmp_path / "ledger", tmp_path / "records"
    FileLedger(folder).append(draft(1))  # an unsigned ledger
    assert audit_ledger(folder, record=AuditRecord(folder, UNSIGNED, records)).ok
    report = audit(folder, keys, records)
    assert report.unchanged == 0 and report.problems == ("entry 1: not signed",)
    generate_key_pair(tmp_path / "other.pem", tmp_path / "other.pub")
    signed(tmp_path / "signed", keys, 2)
    assert audit(tmp_path / "signed", keys, records).ok
    by_other = audit(tmp_path / "signed", (tmp_path / "other.pem", tmp_path / "other.pub"), records)
    assert by_other.unchanged == 0 and by_other.first_bad_seq == 1


@pytest.mark.parametrize("damage", ["not json", "[]", '{"ledger": 1}'])
def test_a_damaged_record_means_a_full_audit(tmp_path: Path, keys: Keys, damage: str) -> None:
    folder, records = tmp_path / "ledger", tmp_path / "records"
    signed(folder, keys, 2)
    record = AuditRecord(folder, public_key_id(keys[1]), records)
    assert audit(folder, keys, records).ok and record.path.exists()
    record.path.write_text(damage)
    report = audit(folder, keys, records)
    assert report.ok and report.unchanged == 0
    assert record.path.stat().st_mode & 0o077 == 0  # rewritten, readable by its owner only


def test_the_command_says_what_it_skipped_and_full_checks_everything(
    tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ledger"
    signed(folder, keys, 3)
    monkeypatch.setenv("LOCKGATE_WITNESS_DIR", str(tmp_path / "witness"))

    def command(*extra: str) -> dict[str, object]:
        done = subprocess.run(
            [
                *(sys.executable, "-m", "lockgate", "audit", "verify", "--ledger", str(folder)),
                *("--public-key", str(keys[1]), "--json", *extra),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return dict(json.loads(done.stdout))

    assert command()["unchanged_since_last_audit"] == 0
    assert command()["unchanged_since_last_audit"] == 3
    assert command("--full")["unchanged_since_last_audit"] == 0
    assert list((tmp_path / "witness" / "audited").iterdir())


def test_a_full_signed_audit_on_worker_processes_prints_only_its_verdict(
    tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enough entries for the signature workers (on a machine with more than one core: threads
    with libsodium, forked processes with OpenSSL): they end quietly. Before the workers reset the command's SIGTERM handler, the pool's shutdown
    made some of them print a KeyboardInterrupt traceback (a race: not on every run)."""
    from benchmarks.ledger import build
    from lockgate.delivery.ledger.signatures import PARALLEL_FROM

    build(tmp_path / "ledger", PARALLEL_FROM + 10, load_signer(keys[0]))
    monkeypatch.setenv("LOCKGATE_WITNESS_DIR", str(tmp_path / "witness"))
    done = subprocess.run(
        [
            *(sys.executable, "-m", "lockgate", "audit", "verify", "--full"),
            *("--ledger", str(tmp_path / "ledger"), "--public-key", str(keys[1])),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(f"ok: {PARALLEL_FROM + 10} entries")
