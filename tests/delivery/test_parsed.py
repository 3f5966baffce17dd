"""A command parses only the ledger lines after this machine's parsed copy of a prefix, and the
copy is trusted exactly as far as the audit record that names it: real Ed25519-signed ledgers,
real keys, real edited and forged files, real concurrent processes; copies in a per-test
folder. Parsing is counted by wrapping the real parser (it still parses)."""

from __future__ import annotations

import hashlib
import json
import marshal
import multiprocessing
from pathlib import Path

import pytest

from lockgate.delivery.ledger import parsed, signed_read
from lockgate.delivery.ledger.audit import audit_ledger
from lockgate.delivery.ledger.audited import READ_UNSIGNED, AuditRecord
from lockgate.delivery.ledger.entry import Draft, Entry, read_line
from lockgate.delivery.ledger.head import LedgerError
from lockgate.delivery.ledger.ledger import FileLedger
from lockgate.delivery.ledger.signing import generate_key_pair, load_checker, load_signer

Keys = tuple[Path, Path]


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    generate_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    return tmp_path / "k.pem", tmp_path / "k.pub"


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many lines each parse of a signed read was given (the real parser runs)."""
    seen: list[int] = []
    real = signed_read._parse_checked

    def counting(path: Path, data: bytes) -> list[Entry]:
        seen.append(data.count(b"\n"))
        return real(path, data)

    monkeypatch.setattr(signed_read, "_parse_checked", counting)
    return seen


def draft(n: int, actor: str = "alice") -> Draft:
    return Draft("approve", actor, "github", "production", f"sha256:{n:064x}")


def signed(folder: Path, keys: Keys, count: int) -> FileLedger:
    ledger = FileLedger(folder, signer=load_signer(keys[0]))
    for n in range(1, count + 1):
        ledger.append(draft(n))
    return ledger


def gate(folder: Path, keys: Keys, records: Path) -> FileLedger:
    checker = load_checker(keys[1])
    return FileLedger(folder, checker=checker, audited=AuditRecord(folder, checker.key_id, records))


def kept(folder: Path, keys: Keys, records: Path) -> list[Entry]:
    """Two commands' reads: the machine's first keeps no copy, the second keeps one."""
    gate(folder, keys, records).entries()
    return gate(folder, keys, records).entries()


def on_disk(folder: Path) -> list[Entry]:
    return [read_line(line) for line in (folder / "ledger.jsonl").read_bytes().splitlines()]


def copy_of(folder: Path, keys: Keys, records: Path) -> Path:
    return parsed.parsed_path(AuditRecord(folder, load_checker(keys[1]).key_id, records))


def test_a_later_command_parses_only_what_follows_the_copy(
    tmp_path: Path, keys: Keys, parses: list[int]
) -> None:
    folder, records = tmp_path / "ledger", tmp_path / "records"
    writer = signed(folder, keys, 6)
    assert gate(folder, keys, records).entries() == on_disk(folder)
    assert parses == [6]  # the machine's first read parses everything and keeps no copy
    assert not copy_of(folder, keys, records).exists()
    assert gate(folder, keys, records).entries() == on_disk(folder)
    assert parses == [6, 6]  # the second parses everything again and keeps a copy
    assert copy_of(folder, keys, records).stat().st_mode & 0o777 == 0o600
    parses.clear()
    assert gate(folder, keys, records).entries() == on_disk(folder)
    assert parses == [0]  # a new process (a new ledger object): nothing parsed
    writer.append(draft(7))
    writer.append(draft(8))
    parses.clear()
    assert gate(folder, keys, records).entries() == on_disk(folder)  # stale copy: 6 of 8
    assert parses == [2]


def test_a_copy_far_behind_is_written_again(
    tmp_path: Path, keys: Keys, parses: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parsed, "REWRITE_AFTER", 2)
    folder, records = tmp_path / "ledger", tmp_path / "records"
    writer = signed(folder, keys, 3)
    kept(folder, keys, records)
    for n in range(4, 7):
        writer.append(draft(n))
    gate(folder, keys, records).entries()  # three lines after the copy: more than 2, rewritten
    parses.clear()
    assert gate(folder, keys, records).entries() == on_disk(folder) and parses == [0]


def test_an_edited_prefix_is_parsed_again_and_refused(tmp_path: Path, keys: Keys) -> None:
    """A byte of entry 2 changed and re-hashed under the copy: the prefix no longer hashes as
    recorded, the copy is not used, the audit checks every line and refuses entry 2."""
    folder, records = tmp_path / "ledger", tmp_path / "records"
    signed(folder, keys, 4)
    gate(folder, keys, records).entries()
    lines = (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    lines[1] = rehashed(lines[1].replace(b'"actor":"alice"', b'"actor":"carol"'))
    (folder / "ledger.jsonl").write_bytes(b"".join(lines))
    with pytest.raises(LedgerError, match=r"entry 2 \(approve by carol\)"):
        gate(folder, keys, records).entries()


def test_an_unsigned_read_refuses_an_edit_under_its_copy(tmp_path: Path) -> None:
    folder, records = tmp_path / "ledger", tmp_path / "records"
    writer = FileLedger(folder)
    for n in range(1, 5):
        writer.append(draft(n))

    def reader() -> FileLedger:
        return FileLedger(folder, audited=AuditRecord(folder, READ_UNSIGNED, records))

    assert reader().entries() == on_disk(folder)
    data = (folder / "ledger.jsonl").read_bytes()
    (folder / "ledger.jsonl").write_bytes(data.replace(b'"actor":"alice"', b'"actor":"carol"', 1))
    with pytest.raises(LedgerError, match=r"entry 1: hash mismatch"):
        reader().entries()


def test_a_copy_from_another_ledger_is_ignored(
    tmp_path: Path, keys: Keys, parses: list[int]
) -> None:
    """Ledger B's record and copy put where ledger A's belong (same key, other entries): they
    name another folder and other bytes, so A is parsed in full and answers with its own."""
    a, b, records = tmp_path / "a", tmp_path / "b", tmp_path / "records"
    signed(a, keys, 3)
    writer_b = FileLedger(b, signer=load_signer(keys[0]))
    for n in range(1, 4):
        writer_b.append(draft(n, "mallory"))
    kept(b, keys, records)
    key_id = load_checker(keys[1]).key_id
    rec_a, rec_b = AuditRecord(a, key_id, records), AuditRecord(b, key_id, records)
    rec_a.path.write_bytes(rec_b.path.read_bytes())
    parsed.parsed_path(rec_a).write_bytes(parsed.parsed_path(rec_b).read_bytes())
    parses.clear()
    assert gate(a, keys, records).entries() == on_disk(a)
    assert parses == [3]


def forge_copy(folder: Path, keys: Keys, records: Path, actor: str, name_it: bool) -> None:
    """Write a copy of the ledger's current bytes whose entries say ``actor`` approved, the way
    lockgate writes one (valid header, prefix digest, seq, hash); ``name_it``: also name the
    forged file in the audit record, as someone who can write this account's state folder can."""
    record = AuditRecord(folder, load_checker(keys[1]).key_id, records)
    named = record.parsed()
    assert named is not None
    rows = [{**e.__dict__, "actor": actor} for e in on_disk(folder)]
    header = json.dumps(parsed._header(record, named), sort_keys=True).encode()
    raw = header + b"\n" + marshal.dumps(rows)
    parsed.parsed_path(record).write_bytes(raw)
    if name_it:
        record.name_parsed({**named, "file": hashlib.sha256(raw).hexdigest()})


def test_a_forged_copy_the_record_does_not_name_is_ignored(tmp_path: Path, keys: Keys) -> None:
    folder, records = tmp_path / "ledger", tmp_path / "records"
    signed(folder, keys, 3)
    kept(folder, keys, records)
    forge_copy(folder, keys, records, "mallory", name_it=False)
    entries = gate(folder, keys, records).entries()
    assert entries == on_disk(folder) and {e.actor for e in entries} == {"alice"}


def test_a_forged_copy_never_lets_a_tampered_signed_ledger_pass(tmp_path: Path, keys: Keys) -> None:
    """The ledger edited (entry 2 re-hashed, its signature now wrong) and a copy made of the
    edited bytes, named in the record: the copy says nothing about the audit, which finds the
    prefix changed, checks every signature and refuses entry 2."""
    folder, records = tmp_path / "ledger", tmp_path / "records"
    signed(folder, keys, 3)
    kept(folder, keys, records)
    lines = (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    lines[1] = rehashed(lines[1].replace(b'"actor":"alice"', b'"actor":"carol"'))
    (folder / "ledger.jsonl").write_bytes(b"".join(lines))
    record = AuditRecord(folder, load_checker(keys[1]).key_id, records)
    named = record.parsed()
    assert named is not None
    data = (folder / "ledger.jsonl").read_bytes()
    record.name_parsed({**named, "digest": hashlib.sha256(data).hexdigest()})
    forge_copy(folder, keys, records, "carol", name_it=True)
    with pytest.raises(LedgerError, match=r"entry 2 \(approve by carol\)"):
        gate(folder, keys, records).entries()


@pytest.mark.parametrize("damage", ["truncated", "empty", "other format"])
def test_a_damaged_copy_is_parsed_again_and_replaced(
    tmp_path: Path, keys: Keys, parses: list[int], damage: str
) -> None:
    folder, records = tmp_path / "ledger", tmp_path / "records"
    signed(folder, keys, 5)
    kept(folder, keys, records)
    path = copy_of(folder, keys, records)
    raw = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) - 40])
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a copy written by another lockgate or Python: its format differs
        record = AuditRecord(folder, load_checker(keys[1]).key_id, records)
        named = record.parsed()
        assert named is not None
        record.name_parsed({**named, "format": "lockgate-parsed/0"})
    parses.clear()
    assert gate(folder, keys, records).entries() == on_disk(folder)
    assert parses == [5]
    parses.clear()
    assert gate(folder, keys, records).entries() == on_disk(folder)
    assert parses == [0]  # the read kept a good copy again


def _read_many(folder: str, keys: tuple[str, str], records: str, rounds: int) -> None:
    for _ in range(rounds):
        entries = gate(Path(folder), (Path(keys[0]), Path(keys[1])), Path(records)).entries()
        assert entries == on_disk(Path(folder))[: len(entries)]


def test_concurrent_readers_and_a_writer_never_see_a_wrong_copy(
    tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three reader processes, each writing copies (every read: REWRITE_AFTER 0), while this
    process appends; any copy and record that two writers mixed up is ignored, never trusted."""
    monkeypatch.setattr(parsed, "REWRITE_AFTER", 0)
    folder, records = tmp_path / "ledger", tmp_path / "records"
    writer = signed(folder, keys, 5)
    args = (str(folder), (str(keys[0]), str(keys[1])), str(records), 6)
    ctx = multiprocessing.get_context("fork")
    readers = [ctx.Process(target=_read_many, args=args) for _ in range(3)]
    for p in readers:
        p.start()
    for n in range(6, 16):
        writer.append(draft(n))
    for p in readers:
        p.join(120)
        assert p.exitcode == 0
    assert gate(folder, keys, records).entries() == on_disk(folder)


def rehashed(line: bytes) -> bytes:
    cut = line.rfind(b',"hash":"')
    digest = hashlib.sha256(line[:cut] + b"}").hexdigest()
    return line[:cut] + b',"hash":"' + digest.encode() + b'"}\n'


def test_a_full_audit_forgets_the_copy(tmp_path: Path, keys: Keys, parses: list[int]) -> None:
    """``audit verify --full`` trusts no record; the copy it cannot check is no longer named."""
    folder, records = tmp_path / "ledger", tmp_path / "records"
    signed(folder, keys, 4)
    kept(folder, keys, records)
    checker = load_checker(keys[1])
    record = AuditRecord(folder, checker.key_id, records)
    assert record.parsed() is not None
    assert audit_ledger(folder, checker, record=record, skip_audited=False).ok
    assert record.parsed() is None
    parses.clear()
    assert gate(folder, keys, records).entries() == on_disk(folder) and parses == [4]
