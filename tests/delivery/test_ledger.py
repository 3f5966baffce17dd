"""The embedded ledger: chaining, the head anchor, the writers' lock and recovery after a crash
at each step of an append (the crash is reproduced by leaving the files as a killed writer
leaves them; tests/delivery/test_crash.py kills real processes)."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from lockgate.delivery.ledger.audit import audit_ledger
from lockgate.delivery.ledger.entry import GENESIS, Draft, seal
from lockgate.delivery.ledger.ledger import FileLedger, LedgerError, read_head


def draft(n: int = 0, action: str = "approve") -> Draft:
    return Draft(
        action=action,
        actor="alice",
        actor_source="test",
        environment="staging",
        digest=f"sha256:{n:064x}",
        reason=f"entry {n}",
    )


def test_entries_chain_and_head_records_the_last(tmp_path: Path) -> None:
    ledger = FileLedger(tmp_path)
    first = ledger.append(draft(1))
    second = ledger.append(draft(2))
    assert (first.seq, first.prev) == (1, GENESIS)
    assert (second.seq, second.prev) == (2, first.hash)
    head = read_head(tmp_path)
    assert head is not None and (head.seq, head.hash) == (2, second.hash)
    assert head.size == (tmp_path / "ledger.jsonl").stat().st_size
    assert [e.reason for e in ledger.entries()] == ["entry 1", "entry 2"]
    assert audit_ledger(tmp_path).ok


def _append_many(folder: str, worker: int) -> None:
    ledger = FileLedger(Path(folder))
    for i in range(25):
        ledger.append(draft(worker * 100 + i))


def test_concurrent_writers_are_serialized(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(tmp_path), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    report = audit_ledger(tmp_path)
    assert report.ok, report.problems
    assert report.entries == 100
    assert sorted(int(e.digest[-4:], 16) for e in FileLedger(tmp_path).entries()) == sorted(
        w * 100 + i for w in range(4) for i in range(25)
    )


def _pending_head(folder: Path, line: bytes) -> None:
    head = json.loads((folder / "ledger.head").read_text())
    entry_hash = json.loads(line)["hash"]
    head["pending"] = {"seq": head["seq"] + 1, "hash": entry_hash, "size": head["size"] + len(line)}
    (folder / "ledger.head").write_text(json.dumps(head))


def _next_line(ledger: FileLedger) -> bytes:
    head = ledger.head()
    return seal(draft(9), head.seq + 1, "2030-01-01T00:00:00.000000Z", head.hash).line()


def test_crash_after_full_line_rolls_forward(tmp_path: Path) -> None:
    notices: list[str] = []
    ledger = FileLedger(tmp_path, notice=notices.append)
    ledger.append(draft(1))
    line = _next_line(ledger)
    _pending_head(tmp_path, line)
    with open(tmp_path / "ledger.jsonl", "ab") as f:
        f.write(line)
    assert audit_ledger(tmp_path).ok  # a pending append is not tampering
    ledger.append(draft(2))
    assert [e.seq for e in ledger.entries()] == [1, 2, 3]
    assert "completed entry 2" in notices[0]
    assert audit_ledger(tmp_path).ok


@pytest.mark.parametrize("cut", [1, 40, -2])
def test_torn_last_line_is_cut_off_with_a_notice(tmp_path: Path, cut: int) -> None:
    notices: list[str] = []
    ledger = FileLedger(tmp_path, notice=notices.append)
    ledger.append(draft(1))
    line = _next_line(ledger)
    _pending_head(tmp_path, line)
    with open(tmp_path / "ledger.jsonl", "ab") as f:
        f.write(line[:cut])
    entry = ledger.append(draft(2))
    assert entry.seq == 2
    assert "removed a torn entry 2" in notices[0]
    report = audit_ledger(tmp_path)
    assert report.ok and report.entries == 2


def test_crash_before_the_write_clears_pending(tmp_path: Path) -> None:
    notices: list[str] = []
    ledger = FileLedger(tmp_path, notice=notices.append)
    ledger.append(draft(1))
    _pending_head(tmp_path, _next_line(ledger))
    assert ledger.append(draft(2)).seq == 2
    assert "never written" in notices[0]


def test_bytes_outside_any_pending_append_block_writes(tmp_path: Path) -> None:
    ledger = FileLedger(tmp_path)
    ledger.append(draft(1))
    with open(tmp_path / "ledger.jsonl", "ab") as f:
        f.write(_next_line(ledger))
    with pytest.raises(LedgerError, match="written outside lockgate"):
        ledger.append(draft(2))


def test_missing_anchor_blocks_writes(tmp_path: Path) -> None:
    ledger = FileLedger(tmp_path)
    ledger.append(draft(1))
    (tmp_path / "ledger.head").unlink()
    with pytest.raises(LedgerError, match="anchor was deleted"):
        ledger.append(draft(2))


def test_signed_ledger_verifies_offline_with_the_public_key(tmp_path: Path) -> None:
    from lockgate.delivery.ledger.signing import generate_key_pair, load_checker, load_signer

    generate_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    folder = tmp_path / "ledger"
    ledger = FileLedger(folder, signer=load_signer(tmp_path / "k.pem"))
    for n in range(3):
        ledger.append(draft(n))
    check = load_checker(tmp_path / "k.pub")
    assert audit_ledger(folder, check).ok
    generate_key_pair(tmp_path / "other.pem", tmp_path / "other.pub")
    report = audit_ledger(folder, load_checker(tmp_path / "other.pub"))
    assert report.first_bad_seq == 1 and "signature does not verify" in report.problems[0]


def test_a_generated_private_key_is_never_readable_by_others(tmp_path: Path) -> None:
    import os
    import stat

    from lockgate.delivery.ledger.signing import generate_key_pair

    old = os.umask(0)  # the widest umask: the file must still be created 0600
    try:
        generate_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in (tmp_path / "k.pem").read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
