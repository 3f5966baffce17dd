"""``audit verify`` names the first bad entry for each kind of tampering."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from lockgate.delivery.ledger.audit import IncrementalAudit, audit_ledger
from lockgate.delivery.ledger.entry import Draft, seal
from lockgate.delivery.ledger.head import HEAD_FILE
from lockgate.delivery.ledger.ledger import FileLedger


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    ledger = FileLedger(tmp_path)
    for n in range(1, 7):
        ledger.append(
            Draft(
                action="approve",
                actor="alice",
                actor_source="test",
                environment="production",
                digest=f"sha256:{n:064x}",
            )
        )
    return tmp_path


def lines(folder: Path) -> list[bytes]:
    return (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)


def write(folder: Path, rows: list[bytes]) -> None:
    (folder / "ledger.jsonl").write_bytes(b"".join(rows))


def test_intact_ledger_passes(ledger_dir: Path) -> None:
    report = audit_ledger(ledger_dir)
    assert report.ok and report.entries == 6


def test_edit_names_the_edited_entry(ledger_dir: Path) -> None:
    rows = lines(ledger_dir)
    rows[2] = rows[2].replace(b'"actor":"alice"', b'"actor":"mallo"')
    write(ledger_dir, rows)
    report = audit_ledger(ledger_dir)
    assert report.first_bad_seq == 3 and "edited: hash mismatch" in report.problems[0]


def test_edit_with_recomputed_hash_names_the_edited_entry(ledger_dir: Path) -> None:
    rows = lines(ledger_dir)
    body = json.loads(rows[3])
    body.pop("hash")
    body["actor"] = "mallory"
    rows[3] = seal(
        Draft(
            action=body["action"],
            actor="mallory",
            actor_source="test",
            environment="production",
            digest=body["digest"],
        ),
        body["seq"],
        body["time"],
        body["prev"],
    ).line()
    write(ledger_dir, rows)
    report = audit_ledger(ledger_dir)
    assert report.first_bad_seq == 4 and "rewritten" in report.problems[0]


def test_delete_names_the_missing_entry(ledger_dir: Path) -> None:
    rows = lines(ledger_dir)
    del rows[1]
    write(ledger_dir, rows)
    report = audit_ledger(ledger_dir)
    assert report.first_bad_seq == 2 and "missing (deleted)" in report.problems[0]


def test_reorder_names_the_first_displaced_entry(ledger_dir: Path) -> None:
    rows = lines(ledger_dir)
    rows[3], rows[4] = rows[4], rows[3]
    write(ledger_dir, rows)
    report = audit_ledger(ledger_dir)
    assert report.first_bad_seq == 4
    assert report.problems[0] == (
        "entry 4: out of order (reordered): found entry 5 where entry 4 belongs, and entry 4 "
        "comes later"
    )


def test_truncate_is_caught_by_the_head_anchor(ledger_dir: Path) -> None:
    write(ledger_dir, lines(ledger_dir)[:4])
    report = audit_ledger(ledger_dir)
    assert report.first_bad_seq == 5 and "truncated" in report.problems[0]


def test_forged_append_is_caught_by_the_head_anchor(ledger_dir: Path) -> None:
    rows = lines(ledger_dir)
    last = json.loads(rows[-1])
    forged = seal(
        Draft(
            action="approve",
            actor="mallory",
            actor_source="test",
            environment="production",
            digest="sha256:" + "f" * 64,
        ),
        7,
        last["time"],
        last["hash"],
    ).line()
    write(ledger_dir, [*rows, forged])
    report = audit_ledger(ledger_dir)
    assert report.first_bad_seq == 7 and "appended outside lockgate" in report.problems[0]


def test_full_rewrite_after_an_edit_is_caught_by_the_anchor(ledger_dir: Path) -> None:
    rows = [json.loads(r) for r in lines(ledger_dir)]
    prev = "0" * 64
    out = []
    for body in rows:
        body.pop("hash")
        if body["seq"] == 2:
            body["actor"] = "mallory"
        body["prev"] = prev
        raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        prev = hashlib.sha256(raw).hexdigest()
        out.append(raw[:-1] + b',"hash":"' + prev.encode() + b'"}\n')
    write(ledger_dir, out)
    report = audit_ledger(ledger_dir)
    assert report.first_bad_seq == 6 and "rewritten" in report.problems[0]


def _shrink_head(folder: Path) -> None:
    head = json.loads((folder / HEAD_FILE).read_text())
    head["size"] = len(b"".join(lines(folder)[:3]))
    (folder / HEAD_FILE).write_text(json.dumps(head))


def _edit(folder: Path) -> None:
    rows = lines(folder)
    rows[2] = rows[2].replace(b'"actor":"alice"', b'"actor":"mallo"')
    write(folder, rows)


def _swap(folder: Path) -> None:
    rows = lines(folder)
    rows[3], rows[4] = rows[4], rows[3]
    write(folder, rows)


@pytest.mark.parametrize(
    "tamper",
    [
        _edit,
        _swap,
        lambda folder: write(folder, [r for i, r in enumerate(lines(folder)) if i != 1]),
        lambda folder: write(folder, lines(folder)[:4]),  # truncated
        lambda folder: write(folder, [*lines(folder), lines(folder)[-1]]),  # appended outside
        _shrink_head,
    ],
    ids=["edit", "reorder", "delete", "truncate", "append", "head-shrunk"],
)
def test_incremental_audit_walks_only_new_lines_and_reports_as_a_whole_walk(
    ledger_dir: Path, tamper: Callable[[Path], None]
) -> None:
    audit = IncrementalAudit(ledger_dir)
    assert audit() == audit_ledger(ledger_dir) and audit().entries == 6
    held = (ledger_dir / "ledger.jsonl").stat().st_size
    FileLedger(ledger_dir).append(
        Draft("healthy", "monitor", "test", "production", "sha256:" + "e" * 64)
    )
    report = audit()
    assert report.ok and report.entries == 7 and audit.walked_from == held
    tamper(ledger_dir)
    report = audit()
    assert not report.ok and report == audit_ledger(ledger_dir), report
