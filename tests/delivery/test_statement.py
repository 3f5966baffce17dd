"""The signed statement's two forms, and a rollback whose signed plan the environment has since
moved past (the real ledger and manifest deployer; the verifier is gatekit's test double)."""

from __future__ import annotations

from pathlib import Path

from lockgate.delivery.ledger.entry import Draft
from lockgate.delivery.ledger.statement import Statement, mismatch
from lockgate.delivery.promotion.gates import RollbackPlan, planned_rollback
from lockgate.delivery.promotion.refs import short
from tests.delivery.gatekit import digest, image, make_world

D1, D2, D3 = (digest(n) for n in (1, 2, 3))
V1 = f"lockgate statement v1\nop: approve\nenvironment: production\ndigest: {D1}\ntime: T\n"


def test_a_version_1_statement_reads_back_as_recorded() -> None:
    old = Statement.parse(V1)
    assert (old.version, old.terms, old.text()) == (1, (), V1)
    assert mismatch(old, Statement("revoke", "production", D1, "T", version=1)) is not None
    assert mismatch(old, Statement("approve", "production", D1, "later", version=1)) is None


def test_a_statement_reads_back_with_its_terms_in_order() -> None:
    new = Statement("health", "staging", D1, "T", (("mark", "healthy"),))
    assert new.text().splitlines()[0] == "lockgate statement v2"
    assert Statement.parse(new.text()) == new
    swapped = Statement("rollback", "staging", D1, "T", (("emergency", "no"), ("replacing", D2)))
    wanted = Statement("rollback", "staging", D1, "T", (("replacing", D2), ("emergency", "no")))
    assert "not in the order --print-statement prints" in (mismatch(swapped, wanted) or "")


def test_a_rollback_signed_before_the_environment_moved_on_is_refused(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    for n in (1, 2):
        assert world.promoter().promote("staging", image(n), author="dana").status == "promoted"
        world.ledger.append(
            Draft("healthy", "sre", "github", environment="staging", digest=digest(n))
        )
    signed = planned_rollback(world.ledger.entries(), "staging", None)
    assert signed == RollbackPlan(D1, D2)
    assert world.promoter().promote("staging", image(3), author="dana").status == "promoted"
    out = world.promoter(actor="sre").rollback("staging", signed=signed)
    assert out.status == "refused"
    assert out.lines[-1] == (
        f"staging changed since the rollback was signed: it would now go back to {short(D2)} "
        f"from {short(D3)}, not to {short(D1)} from {short(D2)}; sign anew "
        "(lockgate rollback staging --print-statement)"
    )
    last = world.ledger.entries()[-1]
    assert (last.action, last.actor, last.details["op"]) == ("refuse", "sre", "rollback")
    assert world.deployer.current("staging") == image(3)
