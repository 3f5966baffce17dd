"""A gate's read of a signed ledger accepts what an audit with the key accepts, and checks again
only what this machine's audit record does not vouch for: the head always, the lines after an
unchanged audited prefix, everything when a byte of the prefix changed or the key differs (real
signed ledgers, real Ed25519 keys, real forged and edited lines; records in a per-test folder)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from lockgate.delivery.ledger.audit import audit_ledger
from lockgate.delivery.ledger.audited import AuditRecord
from lockgate.delivery.ledger.entry import Draft, read_line, seal
from lockgate.delivery.ledger.head import LedgerError, read_head
from lockgate.delivery.ledger.ledger import FileLedger
from lockgate.delivery.ledger.signing import generate_key_pair, load_checker, load_signer
from lockgate.delivery.ledger.store import open_ledger
from lockgate.delivery.ledger.verification import KeyChecker
from lockgate.spec.loader import parse_spec

Keys = tuple[Path, Path]


class CountingChecker:
    """The real checker for ``public``, counting the signatures it is asked about (the reads here
    stay in one process: below the size at which signatures go to worker processes)."""

    def __init__(self, public: Path) -> None:
        self.real = load_checker(public)
        self.key_id = self.real.key_id
        self.calls = 0

    def __call__(self, payload: bytes, signature: str) -> bool:
        self.calls += 1
        return self.real(payload, signature)


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    generate_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    return tmp_path / "k.pem", tmp_path / "k.pub"


def draft(n: int, actor: str = "alice") -> Draft:
    return Draft("approve", actor, "github", "production", f"sha256:{n:064x}")


def signed(folder: Path, keys: Keys, count: int) -> FileLedger:
    ledger = FileLedger(folder, signer=load_signer(keys[0]))
    for n in range(1, count + 1):
        ledger.append(draft(n))
    return ledger


def gate(folder: Path, checker: KeyChecker | CountingChecker, records: Path) -> FileLedger:
    return FileLedger(folder, checker=checker, audited=AuditRecord(folder, checker.key_id, records))


def test_a_second_read_checks_only_the_head_and_what_was_added(tmp_path: Path, keys: Keys) -> None:
    folder, records = tmp_path / "ledger", tmp_path / "records"
    writer = signed(folder, keys, 5)
    checker = CountingChecker(keys[1])
    first = gate(folder, checker, records).entries()
    assert checker.calls == 6  # five entries and the head
    assert first == [
        read_line(line) for line in (folder / "ledger.jsonl").read_bytes().splitlines()
    ]
    checker.calls = 0
    assert gate(folder, checker, records).entries() == first
    assert checker.calls == 1  # the head only
    writer.append(draft(6))
    checker.calls = 0
    later = gate(folder, checker, records).entries()
    assert [e.seq for e in later] == [1, 2, 3, 4, 5, 6] and checker.calls == 2


def test_a_gate_read_and_an_audit_share_the_record(tmp_path: Path, keys: Keys) -> None:
    folder, records = tmp_path / "ledger", tmp_path / "records"
    signed(folder, keys, 4)
    checker = CountingChecker(keys[1])
    record = AuditRecord(folder, checker.key_id, records)
    assert audit_ledger(folder, checker, record=record).ok
    checker.calls = 0
    assert len(gate(folder, checker, records).entries()) == 4 and checker.calls == 1
    signed_again = FileLedger(folder, signer=load_signer(keys[0]))
    signed_again.append(draft(5))
    assert len(gate(folder, checker, records).entries()) == 5
    report = audit_ledger(folder, checker, record=record)  # the gate's read recorded entry 5
    assert report.ok and report.unchanged == 5


def test_an_edited_audited_entry_is_checked_again_and_refused(tmp_path: Path, keys: Keys) -> None:
    """The approver's name in audited entry 2 changed and the line re-hashed (same length, head
    untouched): the prefix no longer hashes as recorded, so every line is checked again and
    entry 2's signature fails."""
    folder, records = tmp_path / "ledger", tmp_path / "records"
    signed(folder, keys, 4)
    checker = CountingChecker(keys[1])
    gate(folder, checker, records).entries()
    lines = (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    lines[1] = rehashed(lines[1].replace(b'"actor":"alice"', b'"actor":"carol"'))
    (folder / "ledger.jsonl").write_bytes(b"".join(lines))
    checker.calls = 0
    with pytest.raises(LedgerError, match=r"entry 2 \(approve by carol\) has a signature that"):
        gate(folder, checker, records).entries()
    # entries 1 and 2 checked again, from the start; a failing signature is tried twice (its
    # payload cut from the line, then re-serialised), so nothing the full parse accepts is refused
    assert checker.calls == 3


def rehashed(line: bytes) -> bytes:
    """``line`` with its trailing hash recomputed over its body (what a forger can always do)."""
    cut = line.rfind(b',"hash":"')
    digest = hashlib.sha256(line[:cut] + b"}").hexdigest()
    return line[:cut] + b',"hash":"' + digest.encode() + b'"}\n'


def test_swapped_entries_are_refused_though_each_is_signed(tmp_path: Path, keys: Keys) -> None:
    """Two validly signed lines of the same length swapped, head untouched: every signature
    still verifies, but the chain does not hold, and a gate no longer decides on it."""
    folder, records = tmp_path / "ledger", tmp_path / "records"
    signed(folder, keys, 4)
    lines = (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    assert len(lines[1]) == len(lines[2])
    (folder / "ledger.jsonl").write_bytes(b"".join([lines[0], lines[2], lines[1], lines[3]]))
    with pytest.raises(LedgerError, match=r"entry 2: out of order \(reordered\)"):
        gate(folder, load_checker(keys[1]), records).entries()


def test_an_unsigned_line_after_the_audited_prefix_is_refused(tmp_path: Path, keys: Keys) -> None:
    folder, records = tmp_path / "ledger", tmp_path / "records"
    signed(folder, keys, 3)
    checker = load_checker(keys[1])
    assert len(gate(folder, checker, records).entries()) == 3
    head = read_head(folder)
    assert head is not None
    line = seal(draft(4, "mallory"), 4, head.time, head.hash).line()  # no signature
    with open(folder / "ledger.jsonl", "ab") as f:
        f.write(line)
    raw = json.loads((folder / "ledger.head").read_text())
    raw.update(seq=4, hash=read_line(line).hash, size=head.size + len(line))
    (folder / "ledger.head").write_text(json.dumps(raw))
    with pytest.raises(LedgerError, match=r"entry 4 \(approve by mallory\) is not signed"):
        gate(folder, checker, records).entries()


def test_another_keys_record_does_not_vouch(tmp_path: Path, keys: Keys) -> None:
    """A record made under the writer's key does not let a gate holding another key skip
    anything: every line is checked with the gate's key, and the first one fails."""
    folder, records = tmp_path / "ledger", tmp_path / "records"
    signed(folder, keys, 3)
    assert len(gate(folder, load_checker(keys[1]), records).entries()) == 3
    generate_key_pair(tmp_path / "other.pem", tmp_path / "other.pub")
    other = CountingChecker(tmp_path / "other.pub")
    with pytest.raises(LedgerError, match=r"entry 1 \(approve by alice\) has a signature that"):
        gate(folder, other, records).entries()
    assert other.calls == 2  # entry 1 only (tried two ways), not a line skipped


def test_the_store_a_command_opens_reads_with_the_record(tmp_path: Path, keys: Keys) -> None:
    pipeline = parse_spec(
        "version: 1\nname: p\nimage: {base: x}\nstages: {a: {run: [x]}}\n"
        "environments: [{name: staging}]\n",
        "lockgate.yaml",
    )
    checker = load_checker(keys[1])
    store = open_ledger(pipeline, tmp_path, checker=checker, signer=load_signer(keys[0]))
    assert isinstance(store, FileLedger) and store.audited is not None
    assert store.audited.key_id == checker.key_id
    for n in range(1, 4):
        store.append(draft(n))
    assert len(store.entries()) == 3
    report = audit_ledger(store.folder, checker, record=store.audited)
    assert report.ok and report.unchanged == 3
