"""Reading a signed ledger again in the same process (a promotion reads, appends, reads again):
only what was committed since the last accepted read is checked and parsed, the head always is,
and any change to the bytes read before, or to the head, is caught as a first read catches it
(real signed ledgers and Ed25519 keys, real edits to the files; no audit record, so only the
in-memory read is in play)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.delivery.ledger import signed_read
from lockgate.delivery.ledger.entry import Entry, read_line
from lockgate.delivery.ledger.head import LedgerError
from lockgate.delivery.ledger.ledger import FileLedger
from lockgate.delivery.ledger.signing import generate_key_pair, load_signer
from tests.delivery.test_signed_read import CountingChecker, Keys, draft, rehashed, signed


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    generate_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    return tmp_path / "k.pem", tmp_path / "k.pub"


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of bytes each read parses into entries (the real parser, counted)."""
    sizes: list[int] = []
    real = signed_read._parse_checked

    def counting(path: Path, data: bytes) -> list[Entry]:
        sizes.append(len(data))
        return real(path, data)

    monkeypatch.setattr(signed_read, "_parse_checked", counting)
    return sizes


def every_line(folder: Path) -> list[Entry]:
    return [read_line(line) for line in (folder / "ledger.jsonl").read_bytes().splitlines()]


def test_a_later_read_checks_and_parses_only_what_was_appended(
    tmp_path: Path, keys: Keys, parsed: list[int]
) -> None:
    folder = tmp_path / "ledger"
    writer = signed(folder, keys, 5)
    checker = CountingChecker(keys[1])
    gate = FileLedger(folder, checker=checker)
    assert gate.entries() == every_line(folder) and checker.calls == 6
    size = (folder / "ledger.jsonl").stat().st_size
    checker.calls = 0
    assert gate.entries() == every_line(folder)
    assert checker.calls == 0 and parsed == [size]  # the same bytes under the same head
    writer.append(draft(6))
    writer.append(draft(7))
    checker.calls = 0
    later = gate.entries()
    assert later == every_line(folder) and [e.seq for e in later] == list(range(1, 8))
    assert checker.calls == 3  # entries 6 and 7, and the head
    assert parsed == [size, (folder / "ledger.jsonl").stat().st_size - size]


def test_the_reader_appends_and_reads_on_from_its_own_entry(tmp_path: Path, keys: Keys) -> None:
    folder = tmp_path / "ledger"
    signed(folder, keys, 3)
    checker = CountingChecker(keys[1])
    gate = FileLedger(folder, checker=checker, signer=load_signer(keys[0]))
    gate.entries()
    gate.append(draft(4, "bob"))
    checker.calls = 0
    assert gate.entries() == every_line(folder) and gate.entries()[-1].actor == "bob"
    assert checker.calls == 2  # entry 4 and the head, once


def test_an_edit_to_bytes_read_before_is_refused_in_the_same_process(
    tmp_path: Path, keys: Keys
) -> None:
    """Entry 2 edited and re-hashed after the process read it (same length, head untouched):
    the bytes no longer start with what was read, so the next read walks everything again."""
    folder = tmp_path / "ledger"
    signed(folder, keys, 4)
    gate = FileLedger(folder, checker=CountingChecker(keys[1]))
    assert len(gate.entries()) == 4
    lines = (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    lines[1] = rehashed(lines[1].replace(b'"actor":"alice"', b'"actor":"carol"'))
    (folder / "ledger.jsonl").write_bytes(b"".join(lines))
    with pytest.raises(LedgerError, match=r"entry 2 \(approve by carol\) has a signature that"):
        gate.entries()
    with pytest.raises(LedgerError):  # a refused read is not remembered as accepted
        gate.entries()


def test_swapped_lines_after_a_read_are_refused(tmp_path: Path, keys: Keys) -> None:
    folder = tmp_path / "ledger"
    signed(folder, keys, 4)
    gate = FileLedger(folder, checker=CountingChecker(keys[1]))
    gate.entries()
    lines = (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    (folder / "ledger.jsonl").write_bytes(b"".join([lines[0], lines[2], lines[1], lines[3]]))
    with pytest.raises(LedgerError, match=r"entry 2: out of order \(reordered\)"):
        gate.entries()


def test_a_forged_head_over_the_same_bytes_is_refused(tmp_path: Path, keys: Keys) -> None:
    """The bytes are those read before, but the head now claims a different time (its signature
    no longer covers it): the head is checked on every read."""
    folder = tmp_path / "ledger"
    signed(folder, keys, 3)
    gate = FileLedger(folder, checker=CountingChecker(keys[1]))
    gate.entries()
    raw = json.loads((folder / "ledger.head").read_text())
    raw["time"] = "2099-01-01T00:00:00.000000Z"
    (folder / "ledger.head").write_text(json.dumps(raw))
    with pytest.raises(LedgerError, match="head anchor's signature does not verify"):
        gate.entries()


def test_a_truncated_ledger_and_head_after_a_read_is_read_again(tmp_path: Path, keys: Keys) -> None:
    """The head and the file both cut back to entry 2 (an old, validly signed state replayed):
    the shorter bytes are not covered by the last read, so they are walked in full, and the
    answer is what they hold, not what the process saw before."""
    folder = tmp_path / "ledger"
    signed(folder, keys, 2)
    old_head = (folder / "ledger.head").read_bytes()
    old_lines = (folder / "ledger.jsonl").read_bytes()
    writer = FileLedger(folder, signer=load_signer(keys[0]))
    writer.append(draft(3))
    gate = FileLedger(folder, checker=CountingChecker(keys[1]))
    assert len(gate.entries()) == 3
    (folder / "ledger.jsonl").write_bytes(old_lines)
    (folder / "ledger.head").write_bytes(old_head)
    assert [e.seq for e in gate.entries()] == [1, 2]


def test_an_unsigned_ledger_read_again_parses_only_new_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ledger"
    writer = FileLedger(folder)
    for n in range(1, 4):
        writer.append(draft(n))
    lines_read: list[bytes] = []

    def counting(line: bytes) -> Entry:
        lines_read.append(line)
        return read_line(line)

    monkeypatch.setattr(signed_read, "read_line", counting)
    reader = FileLedger(folder)
    assert reader.entries() == every_line(folder) and len(lines_read) == 3
    writer.append(draft(4))
    assert reader.entries() == every_line(folder) and len(lines_read) == 4
    lines = (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"actor":"alice"', b'"actor":"carol"')  # hash now wrong
    (folder / "ledger.jsonl").write_bytes(b"".join(lines))
    with pytest.raises(LedgerError, match="entry 1: hash mismatch"):
        reader.entries()
