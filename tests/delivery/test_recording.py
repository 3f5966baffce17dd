"""Rollout decisions in the release ledger: the person's, proven, and what the analysis then
decided by itself, recorded as lockgate's.

The canary runs on real containers behind the real nginx proxy under real loopback traffic,
driven through the real CLI entry point by a person proving who they are with their own key in
the team's allowed-signers file. The refusal of a decision whose rollout moved on between the
proof and the environment's lock is checked on the recorder itself, with the real embedded
ledger: a race the CLI cannot be made to lose on purpose. That identity is a plain record, as
the prover would return it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from lockgate.__main__ import main
from lockgate.delivery.config import EnvironmentDelivery
from lockgate.delivery.environment import open_environment
from lockgate.delivery.ledger.identity import Identity
from lockgate.delivery.ledger.ledger import FileLedger
from lockgate.delivery.rollout.decision import RolloutDecision, decision_for
from lockgate.delivery.rollout.recording import RecordedDecision, RolloutRefused
from lockgate.delivery.rollout.state import RolloutState
from lockgate.delivery.rollout.targets.base import Version
from lockgate.delivery.rollout.traffic import LoadGenerator
from tests.delivery.gatekit import SPEC
from tests.delivery.people import Team

ROLLOUT = (
    "{target: docker, canary: {steps: [{weight: 10, pause: {duration: 1.5}}, {weight: 100}]},"
    " analysis: {min_requests: 5, min_predictions: 5, max_extensions: 2, window_s: 1.0},"
    " docker: {drain_s: 0.3, ready_timeout_s: 30}}"
)


def rows(root: Path) -> list[dict[str, Any]]:
    lines = (root / ".lockgate" / "ledger" / "ledger.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def sre_project(tmp_path: Path, monkeypatch, base_image: str, env: str, rollout: str) -> Any:
    """A project whose environment ``env`` rolls out with ``rollout`` on real containers, and
    whose person ``sre`` proves who they are with their own key; returns the target."""
    team = Team(tmp_path, {"sre": ()})
    spec = SPEC.replace(
        "  - {name: staging, health_markers: [sre]}\n",
        f"  - {{name: {env}, health_markers: [sre], rollout: {rollout}}}\n",
    ).replace("policy:\n", f"policy:\n  allowed_signers: {team.allowed_signers.name}\n")
    (tmp_path / "lockgate.yaml").write_text(spec)
    for variable in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_USER_ID"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LOCKGATE_BASE_IMAGE", base_image)
    monkeypatch.setenv("LOCKGATE_IDENTITY_KEY", str(team.key("sre")))
    monkeypatch.chdir(tmp_path)
    return open_environment(env).target


@pytest.mark.docker
def test_a_proven_canary_the_analysis_aborts_is_recorded_as_both_decisions(
    tmp_path: Path, monkeypatch, capsys, base_image, serving_image, proxy_image
) -> None:
    env = f"t{os.getpid()}id"
    target = sre_project(tmp_path, monkeypatch, base_image, env, ROLLOUT)
    try:
        assert main(["rollout", "start", env, "--ref", serving_image]) == 0
        load = LoadGenerator(target.url(), 60, 60.0).start()
        time.sleep(0.3)
        try:
            erroring = [
                "rollout",
                "start",
                env,
                "--ref",
                serving_image,
                "--set-env",
                "ERROR_RATE=0.3",
            ]
            assert main(erroring) == 1
        finally:
            load.stop()
        out = capsys.readouterr().out
        assert "entry 2: rollout start by sre (ssh-key)\n" in out
        assert "entry 3: the analysis aborted it: step 1 (10%): error_rate <" in out
        monkeypatch.delenv("LOCKGATE_IDENTITY_KEY")
        monkeypatch.setenv("GITHUB_ACTOR", "sre")
        assert main(["rollout", "retry", env]) == 1  # unproven: the candidate stays aborted
        assert open_environment(env).status().phase == "aborted"
    finally:
        target.teardown()
    first, person, system, refusal = rows(tmp_path)
    assert (first["action"], first["actor"], first["details"]["op"]) == (
        "rollout",
        "sre",
        "rollout start",
    )
    assert first["details"]["terms"]["steps"] == "first version: 100%"
    assert (person["actor"], person["actor_source"], person["image"]) == (
        "sre",
        "ssh-key",
        serving_image,
    )
    assert person["details"]["terms"]["set-env"] == '{"ERROR_RATE": "0.3"}'
    assert person["details"]["terms"]["stable"] == serving_image
    assert "op: rollout start\n" in person["details"]["proof"]["statement"]
    assert (system["action"], system["actor"], system["actor_source"]) == (
        "rollout",
        "lockgate",
        "analysis",
    )
    assert (system["details"]["outcome"], system["details"]["decision"]) == ("aborted", 2)
    assert system["reason"].startswith("step 1 (10%): error_rate <")
    assert (
        system["details"]["measurement"]["outcome"],
        system["details"]["measurement"]["weight"],
    ) == (
        "fail",
        10,
    )
    assert "proof" not in system["details"]
    assert (refusal["action"], refusal["actor"], refusal["details"]["op"]) == (
        "refuse",
        "(unproven)",
        "rollout retry",
    )
    assert main(["audit", "verify"]) == 0


def test_a_decision_whose_rollout_moved_on_under_the_lock_is_refused_and_recorded(
    tmp_path: Path,
) -> None:
    settings = EnvironmentDelivery.model_validate(
        {"canary": {"steps": [{"weight": 10, "pause": {}}, {"weight": 50}, {"weight": 100}]}}
    )
    stable, candidate = Version(1, "reg/model@sha256:" + "1" * 64), Version(2, "reg/model:2")
    paused = RolloutState("prod", "paused", stable=stable, canary=candidate, weight=10, step=1)
    proof = {"method": "ssh-key", "key": "SHA256:sre", "statement": "(the signed statement)"}
    sre = Identity("sre", "ssh-key", proof=proof)
    ledger = FileLedger(tmp_path / "ledger")

    def again(state: RolloutState) -> RolloutDecision:
        return decision_for("resume", state, settings)

    def recorder() -> RecordedDecision:
        return RecordedDecision(ledger, "prod", sre, again(paused), again, "looks fine")

    with pytest.raises(RolloutRefused) as moved:
        recorder().decide(paused.evolve(weight=50, step=2))
    assert str(moved.value) == (
        "prod changed since the rollout resume was signed: its weight is now 50%, not 10%; "
        "sign anew (lockgate rollout resume prod --print-statement)"
    )
    with pytest.raises(RolloutRefused) as ended:
        recorder().decide(paused.evolve(phase="completed", stable=candidate, canary=None))
    assert "since the rollout resume was signed: environment 'prod' has no paused rollout" in str(
        ended.value
    )
    done = recorder()
    done.decide(paused)
    refused1, refused2, decided = ledger.entries()
    assert [e.action for e in (refused1, refused2)] == ["refuse", "refuse"]
    assert all(e.actor == "sre" and e.details["proof"] == proof for e in ledger.entries())
    assert (decided.action, decided.seq, done.seq, decided.reason) == (
        "rollout",
        3,
        3,
        "looks fine",
    )
    assert decided.digest is None and decided.image == "reg/model:2"  # a tag pins no digest
    assert decided.details["terms"] == {
        "image": "reg/model:2",
        "stable": stable.ref,
        "weight": "10%",
        "steps": "50%, 100%",
    }


MONITORED = (
    "{target: docker, strategy: blue-green, blue_green: {smoke_requests: 10, keep_old_s: 0},"
    " monitor: {interval_s: 1.0, breaches: 2, min_requests: 5, conditions: ['error_rate < 0.05']},"
    " docker: {drain_s: 0.3, ready_timeout_s: 30}}"
)


@pytest.mark.docker
def test_a_rollback_the_monitor_makes_by_itself_is_recorded_as_lockgates(
    tmp_path: Path, monkeypatch, capsys, base_image, serving_image, proxy_image
) -> None:
    """A version that starts failing once live is rolled back by `lockgate monitor`: a change
    of what runs that no person made, recorded as lockgate's with the breach that decided it."""
    env = f"t{os.getpid()}mon"
    target = sre_project(tmp_path, monkeypatch, base_image, env, MONITORED)
    try:
        assert main(["rollout", "start", env, "--ref", serving_image]) == 0
        failing = ["--set-env", "ERROR_AFTER=10", "--set-env", "ERROR_RATE=0.4"]
        assert main(["rollout", "start", env, "--ref", serving_image, *failing]) == 0
        load = LoadGenerator(target.url(), 40, 40.0).start()
        try:
            assert main(["monitor", env, "--duration", "30", "--windows", "8"]) == 1
        finally:
            load.stop()
        out = capsys.readouterr().out
        assert open_environment(env).status().stable.revision == 1
    finally:
        target.teardown()
    *_, rolled = rows(tmp_path)
    assert f"entry {rolled['seq']}: the rollback, recorded as lockgate's decision (monitor)" in out
    assert (rolled["action"], rolled["actor"], rolled["actor_source"]) == (
        "rollout",
        "lockgate",
        "monitor",
    )
    assert rolled["details"]["op"] == "monitor rollback"
    assert rolled["details"]["outcome"] == "rolled-back"
    assert rolled["details"]["to"] == rolled["image"] == serving_image
    assert rolled["details"]["measurement"]["outcome"] == "fail"
    assert (
        rolled["reason"].startswith("breach for 2 windows: ") and "error_rate" in rolled["reason"]
    )
    assert main(["audit", "verify"]) == 0
