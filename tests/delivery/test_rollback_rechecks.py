"""A rollback deploys an earlier release through the checks a promotion makes now: the signed
scan verdicts the ledger recorded for its digest must still be in the registry, and residency is
checked against today's policy, the PII its data check flagged included. The real ledger and
manifest deployer; the verifier is the test double described in gatekit (the supply-chain
verifier's own deletion test is tests/supply/test_verify_attacks.py)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from lockgate.delivery.ledger.identity import Identity
from lockgate.delivery.promotion.approve import approve
from lockgate.delivery.promotion.health import record_health
from lockgate.spec.loader import parse_spec
from tests.delivery.gatekit import SPEC, World, digest, image, make_world


def mark_healthy(world: World, env: str) -> None:
    rules = world.promoter().rules(env)
    record_health(world.ledger, world.deployer, rules, Identity("sre", "test"), mark="healthy")


def test_rollback_to_a_release_whose_failing_scan_verdict_was_deleted_is_refused(
    tmp_path: Path,
) -> None:
    world = make_world(tmp_path)
    world.verifier.facts[digest(1)] = {"scan_verdicts": "v1:pass"}
    for n in (1, 2):
        assert world.promoter().promote("staging", image(n), author="dana").status == "promoted"
        mark_healthy(world, "staging")
    # a rescan of image 1 failed, and a promotion attempt recorded both signed verdicts
    world.verifier.facts[digest(1)] = {"scan_verdicts": "v1:pass v2:fail"}
    assert world.promoter().promote("production", image(1)).status == "refused"
    # then the failing verdict's layer is deleted from the registry
    world.verifier.facts[digest(1)] = {"scan_verdicts": "v1:pass"}
    out = world.promoter().rollback("staging", to=digest(1))
    assert out.status == "refused", out.lines
    assert any("no longer in the registry (v2:fail" in line for line in out.lines)
    assert world.deployer.current("staging") == image(2)
    refused = world.ledger.entries()[-1]
    assert refused.action == "refuse" and refused.details["scan_verdicts"] == ["v1:pass", "v2:fail"]


def test_rollback_rechecks_recorded_pii_against_todays_policy(tmp_path: Path) -> None:
    world = make_world(tmp_path, SPEC.replace("allow_pii: false", "allow_pii: true"))
    check = tmp_path / "data-check.json"
    check.write_text(json.dumps({"pii_detected": ["customers.csv:email"]}))
    for n in (1, 2):
        staged = world.promoter().promote(
            "staging", image(n), author="dana", data_check=check if n == 1 else None
        )
        assert staged.status == "promoted"
        mark_healthy(world, "staging")
        rules = world.promoter().rules("production")
        approve(world.ledger, rules, Identity("lena", "test"), digest(n))
        assert world.promoter().promote("production", image(n)).status == "promoted"
        mark_healthy(world, "production")
    world.pipeline = parse_spec(textwrap.dedent(SPEC), "lockgate.yaml")  # PII now forbidden
    out = world.promoter().rollback("production")
    assert out.status == "refused", out.lines
    assert "trained on data flagged with PII by data-check (customers.csv:email)" in out.lines[0]
    assert world.deployer.current("production") == image(2)
