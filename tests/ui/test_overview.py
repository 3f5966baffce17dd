"""The release page's data, from a real ledger: environments, approvers, pending approvals,
time travel."""

from __future__ import annotations

from pathlib import Path

from lockgate.ui.overview import build
from tests.delivery.gatekit import digest
from tests.ui.ledgerkit import write_ledger


def test_environments_approvers_and_pending(tmp_path: Path) -> None:
    view = build(write_ledger(tmp_path).entries())
    envs = {row.name: row for row in view.environments}
    assert list(envs) == ["staging", "production"]
    prod = envs["production"]
    assert (prod.digest, prod.model, prod.deployed_by) == (digest(1), "models:/churn/1", "ci")
    assert prod.approvers == (("omar", "2026-11-20T09:03:00.000000Z"),)
    (pending,) = view.pending
    assert (pending.environment, pending.digest, pending.approvals) == (
        "production",
        digest(2),
        ("lena",),
    )
    assert view.upto_seq == 8


def test_time_travel_shows_the_past(tmp_path: Path) -> None:
    entries = write_ledger(tmp_path).entries()
    view = build(entries, at="2026-11-20T09:04:30.000000Z")
    envs = {row.name: row for row in view.environments}
    assert envs["staging"].digest == digest(1)
    assert envs["production"].digest is None  # approved, begun, not yet promoted
    assert [p.environment for p in view.pending] == ["production"]
    assert view.upto_seq == 5 and view.timeline[-1].action == "begin"
