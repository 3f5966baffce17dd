"""Every gate refusal, and the promote/rollback path on the real ledger and manifest deployer
(the verifier is the test double described in gatekit)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.delivery.ledger.audit import audit_ledger
from lockgate.delivery.ledger.identity import Identity
from lockgate.delivery.promotion.approve import approve, revoke
from lockgate.delivery.promotion.health import record_health
from lockgate.delivery.promotion.refs import short
from tests.delivery.gatekit import REPO, SPEC, World, digest, image, make_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


def staged(world: World, n: int = 1, author: str = "dana") -> None:
    """Promote image n to staging and mark it healthy there."""
    out = world.promoter().promote("staging", image(n), author=author)
    assert out.status == "promoted", out.lines
    mark(world, "staging", "healthy")


def mark(world: World, env: str, verdict: str, provider: str = "github") -> None:
    """sre records what is now running in ``env`` as ``verdict`` (healthy or unhealthy)."""
    rules = world.promoter().rules(env)
    record_health(world.ledger, world.deployer, rules, Identity("sre", provider), mark=verdict)


def two_healthy_production_releases(world: World) -> None:
    """Images 1 then 2 each go through staging, lena's approval and production, and run
    healthy there: a rollback from 2 has 1 to go back to."""
    for n in (1, 2):
        staged(world, n)
        assert approve_as(world, "lena", n).status == "approved"
        assert world.promoter().promote("production", image(n)).status == "promoted"
        mark(world, "production", "healthy", "test")


def approve_as(world: World, who: str, n: int = 1, env: str = "production", **kw):
    rules = world.promoter().rules(env)
    return approve(world.ledger, rules, Identity(who, "github"), digest(n), **kw)


def refusal(world: World, n: int = 1) -> str:
    out = world.promoter().promote("production", image(n))
    assert out.status == "refused"
    assert out.exit_code == 1
    last = world.ledger.entries()[-1]
    assert last.action == "refuse" and last.digest == digest(n)
    return " | ".join(out.lines)


def test_full_promotion_records_each_step(world: World) -> None:
    staged(world)
    assert approve_as(world, "lena").status == "approved"
    out = world.promoter().promote("production", image(1))
    assert out.status == "promoted", out.lines
    actions = [e.action for e in world.ledger.entries()]
    assert actions == ["begin", "promote", "healthy", "approve", "begin", "promote"]
    assert world.deployer.current("production") == image(1)
    promote = world.ledger.entries()[-1]
    assert promote.details["approvers"] == ["lena"] and promote.details["author"] == "dana"
    assert audit_ledger(world.ledger.folder).ok


def test_refuses_without_approval(world: World) -> None:
    staged(world)
    assert "needs 1 valid approval(s)" in refusal(world)
    assert world.deployer.current("production") is None


def test_refuses_approval_for_another_digest(world: World) -> None:
    staged(world, 1)
    approve_as(world, "lena", n=2)
    assert f"lena approved {short(digest(2))} (entry 4), another digest" in refusal(world, 1)


def test_refuses_approval_for_another_environment(world: World) -> None:
    staged(world, 1)
    world.pipeline = world.pipeline.model_copy(
        update={
            "environments": (
                world.pipeline.environments[0].model_copy(update={"approvers": ("lena",)}),
                world.pipeline.environments[1],
            )
        }
    )
    approve_as(world, "lena", env="staging")
    assert "approved it for staging" in refusal(world, 1)


def test_refuses_expired_approval(world: World) -> None:
    staged(world)
    approve_as(world, "lena", expires_in=3600)
    world.clock.advance(hours=2)
    assert "lena's approval (entry 4) expired at 2026-11-20T10:00" in refusal(world)


def test_approval_lifetime_is_capped_by_policy(world: World) -> None:
    staged(world)
    out = approve_as(world, "lena", expires_in=7 * 86400)
    assert "until 2026-11-21T09:00:00" in out.lines[0]


def test_refuses_revoked_approval(world: World) -> None:
    staged(world)
    approve_as(world, "lena")
    assert (
        revoke(
            world.ledger,
            world.promoter().rules("production"),
            Identity("lena", "github"),
            digest(1),
        ).status
        == "revoked"
    )
    assert "lena's approval (entry 4) was revoked (entry 5)" in refusal(world)


def test_refuses_approver_outside_the_group(world: World) -> None:
    staged(world)
    out = approve_as(world, "mallory")
    assert out.status == "refused"
    assert (
        "mallory (github) is not an approver of production (approvers: @ml-leads, carol)"
        in out.lines[0]
    )
    assert world.ledger.entries()[-1].action == "refuse"
    assert "has 0" in refusal(world)


def test_approval_stops_counting_when_the_approver_leaves_the_group(world: World) -> None:
    staged(world)
    approve_as(world, "omar")
    world.pipeline = world.pipeline.model_copy(update={"groups": {"ml-leads": ("lena",)}})
    assert "omar is not an approver of production" in refusal(world)


def test_groups_file_owned_by_security_adds_members(world: World, tmp_path: Path) -> None:
    (tmp_path / "approvers.yaml").write_text("ml-leads: [priya]\n")
    policy = world.pipeline.policy.model_copy(update={"groups_file": "approvers.yaml"})
    world.pipeline = world.pipeline.model_copy(update={"policy": policy})
    staged(world)
    assert approve_as(world, "priya").status == "approved"
    assert world.promoter().promote("production", image(1)).status == "promoted"


def test_refuses_self_approval_under_four_eyes(world: World) -> None:
    staged(world, author="lena")
    out = approve_as(world, "lena")
    assert out.status == "refused"
    assert f"lena authored {short(digest(1))} and production requires four eyes" in out.lines[0]


def test_four_eyes_discounts_a_self_approval_recorded_before_the_author_was_known(
    world: World,
) -> None:
    approve_as(world, "lena")  # before staging recorded lena as the author
    staged(world, author="lena")
    assert "lena authored this change and production requires four eyes" in refusal(world)


def test_refuses_digest_not_healthy_in_previous_environment(world: World) -> None:
    world.promoter().promote("staging", image(1), author="dana")  # deployed, never marked
    approve_as(world, "lena")
    assert "has not run healthy in staging" in refusal(world)
    mark(world, "staging", "unhealthy")
    assert "has not run healthy in staging" in refusal(world)


def test_refuses_when_verify_fails(world: World) -> None:
    staged(world)
    approve_as(world, "lena")
    world.verifier.failing.add(digest(1))
    assert f"verify failed for {image(1)}: signature: no signatures found" in refusal(world)


def test_refuses_registry_outside_residency(world: World) -> None:
    other = "registry.us.example/ml/fraud"
    world.promoter().promote("staging", image(1, other), author="dana")
    mark(world, "staging", "healthy")
    approve_as(world, "lena")
    out = world.promoter().promote("production", image(1, other))
    assert out.status == "refused"
    assert (
        "image registry.us.example/ml/fraud is outside the registries allowed in production "
        "(policy.residency.production.registries: registry.eu.example/ml)"
    ) in out.lines[0]


def test_refuses_pii_flagged_data_in_a_pii_forbidding_environment(
    world: World, tmp_path: Path
) -> None:
    check = tmp_path / "data-check.json"
    check.write_text(json.dumps({"passed": True, "pii_detected": ["customers.csv:email"]}))
    out = world.promoter().promote("staging", image(1), author="dana", data_check=check)
    assert out.status == "promoted"  # staging allows PII
    mark(world, "staging", "healthy")
    approve_as(world, "lena")
    assert (
        "trained on data flagged with PII by data-check (customers.csv:email); production "
        "forbids PII"
    ) in refusal(world)


def test_deploy_failure_is_recorded_as_abort(world: World, tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the release folder should be")
    world.deployer.folder = blocker
    out = world.promoter().promote("staging", image(1), author="dana")
    assert out.status == "failed" and "cannot write the release manifest" in out.lines[0]
    assert [e.action for e in world.ledger.entries()] == ["begin", "abort"]


def test_interrupted_promotion_is_aborted_then_redone(world: World) -> None:
    from lockgate.delivery.ledger.entry import Draft

    world.ledger.append(
        Draft(
            action="begin",
            actor="ci-bot",
            actor_source="github",
            environment="staging",
            digest=digest(1),
            image=image(1),
            details={"op": "promote"},
        )
    )
    out = world.promoter().promote("staging", image(1), author="dana")
    assert out.status == "promoted"
    assert f"abort: interrupted: promote of {short(digest(1))} (entry 1)" in out.lines[0]
    assert [e.action for e in world.ledger.entries()] == ["begin", "abort", "begin", "promote"]


def test_promoting_what_the_ledger_records_redeploys_when_the_environment_drifted(
    world: World,
) -> None:
    """An interrupted step can deploy a release the ledger never recorded (killed between the
    deploy and its entry): promoting the recorded release again converges instead of answering
    'already runs' against an environment that runs something else."""
    staged(world, 1)
    staged(world, 2)
    world.deployer.deploy("staging", image(1))  # what a killed rollback leaves behind
    out = world.promoter().promote("staging", image(2), author="dana")
    assert out.status == "promoted", out.lines
    assert f"runs {image(1)}, not {short(digest(2))}" in out.lines[0]
    assert world.deployer.current("staging") == image(2)
    again = world.promoter().promote("staging", image(2), author="dana")
    assert again.status == "unchanged" and "already runs" in again.lines[0]


def test_rollback_returns_to_previous_healthy_release(world: World) -> None:
    for n in (1, 2, 3):
        staged(world, n)
        world.clock.advance(minutes=10)
    # 3 is current; 2 was healthy -> rollback picks 2
    out = world.promoter().rollback("staging")
    assert out.status == "rolled-back", out.lines
    assert world.deployer.current("staging") == image(2)
    last = world.ledger.entries()[-1]
    assert last.action == "rollback" and last.digest == digest(2)
    assert last.details["from"] == digest(3)


def test_rollback_skips_releases_that_were_not_healthy(world: World) -> None:
    staged(world, 1)
    world.promoter().promote("staging", image(2), author="dana")
    mark(world, "staging", "unhealthy")
    world.promoter().promote("staging", image(3), author="dana")
    out = world.promoter().rollback("staging")
    assert world.ledger.entries()[-1].digest == digest(1), out.lines


def test_rollback_to_explicit_digest_is_still_verified(world: World) -> None:
    staged(world, 1)
    staged(world, 2)
    world.verifier.failing.add(digest(1))
    out = world.promoter().rollback("staging", to=digest(1))
    assert out.status == "refused" and "verify failed" in out.lines[0]
    assert world.deployer.current("staging") == image(2)


def test_rollback_with_nothing_earlier_is_refused(world: World) -> None:
    staged(world, 1)
    out = world.promoter().rollback("staging")
    assert out.status == "refused" and "nothing safe to roll back to" in out.lines[0]


def test_health_from_the_environment_url(world: World) -> None:
    import http.server
    import threading

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    try:
        world.deployer.urls = {"staging": f"http://127.0.0.1:{server.server_port}/"}
        out = world.promoter().promote("staging", image(1), author="dana")
        assert [e.action for e in world.ledger.entries()][-1] == "healthy", out.lines
        world.deployer.urls = {"staging": f"http://127.0.0.1:{server.server_port}/missing"}
        h = record_health(
            world.ledger,
            world.deployer,
            world.promoter().rules("staging"),
            Identity("sre", "github"),
        )
        assert h.status == "unhealthy" and "answered 404" in world.ledger.entries()[-1].reason
    finally:
        server.shutdown()
        server.server_close()


def test_promote_requires_a_digest(world: World) -> None:
    from lockgate.errors import LockgateError

    with pytest.raises(LockgateError, match="give the image by digest"):
        world.promoter().promote("staging", f"{REPO}:latest")


def test_rollback_rechecks_approvals_or_takes_the_recorded_emergency_path(tmp_path: Path) -> None:
    spec = SPEC.replace("    four_eyes: true\n", "    four_eyes: true\n    emergency: [sre]\n")
    world = make_world(tmp_path, spec)
    two_healthy_production_releases(world)
    world.clock.advance(hours=25)  # lena's approval of 1 has expired
    out = world.promoter().rollback("production")
    assert out.status == "refused"
    assert f"rolling back to {short(digest(1))} needs 1 standing approval(s)" in out.lines[-1]
    assert world.ledger.entries()[-1].action == "refuse"
    out = world.promoter(actor="omar").rollback("production", emergency=True)
    assert out.status == "refused"
    assert "--emergency: you are not on production's emergency list (sre)" in out.lines[-1]
    out = world.promoter(actor="sre").rollback("production", emergency=True)
    assert out.status == "rolled-back", out.lines
    last = world.ledger.entries()[-1]
    assert (last.action, last.actor, last.details["emergency"]) == ("rollback", "sre", True)
    assert world.deployer.current("production") == image(1)


def test_rollback_with_standing_approvals_records_them(world: World) -> None:
    two_healthy_production_releases(world)
    out = world.promoter().rollback("production")
    assert out.status == "rolled-back", out.lines
    approval = next(e for e in world.ledger.entries() if e.action == "approve")
    assert world.ledger.entries()[-1].details["approvals"] == [approval.seq]
