"""The release page's fold of the ledger: extended entry by entry it gives what one pass over
the whole ledger gives, and a ledger whose earlier entries changed is folded afresh."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lockgate.delivery.ledger.entry import Draft
from lockgate.ui.fold import LedgerFold, fold
from lockgate.ui.overview import build
from tests.delivery.gatekit import digest
from tests.ui.ledgerkit import write_ledger


def _view(folded: LedgerFold) -> tuple[object, ...]:
    return (
        folded.count,
        folded.state,
        list(folded.environments),
        folded.approvals,
        folded.begins,
        folded.closed,
        list(folded.digests),
    )


def test_a_fold_extended_request_by_request_equals_one_pass(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, filler=3)
    ledger.append(Draft("revoke", "lena", "github", "production", digest(2)))
    entries = ledger.entries()
    growing = LedgerFold()
    for n in range(len(entries) + 1):
        growing = fold(entries[:n], growing)
        assert _view(growing) == _view(fold(entries[:n]))
    assert growing.count == len(entries) == 12
    # the revoke took lena's approval back: production's pending promotion has none left
    view = build(entries, folded=growing)
    assert [(p.environment, p.approvals) for p in view.pending] == [("production", ())]
    assert view == build(entries)


def test_a_changed_earlier_entry_starts_the_fold_over(tmp_path: Path) -> None:
    entries = write_ledger(tmp_path).entries()
    folded = fold(entries)
    changed = [*entries[:2], replace(entries[2], actor="mallory"), *entries[3:]]
    assert not folded.follows(changed)
    refolded = fold(changed, folded)
    assert refolded is not folded and refolded.state["staging"]["actor"] == "mallory"
