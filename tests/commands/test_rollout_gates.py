"""``lockgate rollout start`` and ``retry`` bring an image into an environment. Where
lockgate.yaml gates the environment (a verify policy, a previous environment, approvals, four
eyes, residency) the image enters only through ``lockgate promote``: an image promote refuses is
refused here too, before anything is proven, printed or recorded, with the command to run.

Through the real CLI entry point, with real keys in the real allowed-signers file, the real
embedded ledger and, for promote's refusals, the real verifier (it fails closed: no verify
policy, or a registry that does not answer). Rollout records are written as an earlier lockgate
process would have left them; nothing here starts a container
(tests/delivery/test_gated_canary.py runs the gated path on a real registry and real
containers)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lockgate.__main__ import main
from lockgate.delivery.rollout.state import RolloutState, StateStore
from lockgate.delivery.rollout.targets.base import Version
from tests.conftest import missing_component
from tests.delivery.gatekit import REPO, SPEC, digest
from tests.delivery.people import Team

STABLE, CANDIDATE = f"{REPO}@{digest(1)}", f"{REPO}@{digest(2)}"
PRODUCTION_GATES = (
    "ran healthy in staging first, 1 approval(s), four eyes, policy.residency.production"
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """gatekit's project (staging first and ungated; production behind staging, an approval,
    four eyes and residency), with ci-bot's and sre's keys listed; ci-bot acts."""
    if shutil.which("ssh-keygen") is None:
        missing_component("ssh-keygen (openssh-client) is not installed")
    team = Team(tmp_path, {"ci-bot": (), "sre": ()})
    spec = SPEC.replace("policy:\n", f"policy:\n  allowed_signers: {team.allowed_signers.name}\n")
    (tmp_path / "lockgate.yaml").write_text(spec)
    for variable in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_USER_ID"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LOCKGATE_IDENTITY_KEY", str(team.key("ci-bot")))
    monkeypatch.setenv("LOCKGATE_VERIFY_PLAIN_HTTP", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def store(project: Path) -> StateStore:
    return StateStore(project / ".lockgate" / "state" / "delivery")


def save(project: Path, env: str, phase: str) -> RolloutState:
    """The record a canary of CANDIDATE over STABLE left in ``env``, at 10 %."""
    state = RolloutState(
        env,
        phase,  # type: ignore[arg-type]  # a Phase
        stable=Version(1, STABLE),
        canary=Version(2, CANDIDATE, (("SHIFT", "0.1"),)),
        weight=10 if phase != "aborted" else 0,
        step=1 if phase != "aborted" else 0,
        next_revision=3,
    )
    return store(project).save(state)


def entries(project: Path) -> list[dict]:
    ledger = project / ".lockgate" / "ledger" / "ledger.jsonl"
    return [json.loads(line) for line in ledger.read_text().splitlines()] if ledger.exists() else []


def line_of(project: Path, text: str) -> int:
    lines = (project / "lockgate.yaml").read_text().splitlines()
    return next(n for n, line in enumerate(lines, start=1) if text in line)


def gated(command: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``command`` is refused as bad input, in one line, printing nothing on stdout."""
    assert main(command) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_an_image_promote_refuses_for_want_of_approval_is_refused_by_rollout_start_too(
    project: Path, capsys
) -> None:
    at = f"lockgate.yaml:{line_of(project, '- name: production')}:5"
    refusal = (
        f"lockgate: error: {at}: production is gated ({PRODUCTION_GATES}): `lockgate rollout "
        f"start` would go around the gates; run `lockgate promote production --image {CANDIDATE}`"
        ", which checks them, records the release and runs its canary once the entry says "
        "`deployer: rollout`"
    )
    start = ["rollout", "start", "production", "--ref", CANDIDATE]
    assert gated([*start, "--print-statement"], capsys) == refusal  # no statement to sign
    assert gated(start, capsys) == refusal  # ci-bot's key proves who; the gates still stand
    assert gated([*start, "--set-env", "A=1", "--identity-key", "keys/sre"], capsys) == refusal
    assert not (project / ".lockgate" / "ledger").exists()
    assert store(project).load("production").phase == "idle"  # no rollout was begun

    assert main(["promote", "production", "--image", CANDIDATE, "--author", "dana"]) == 1
    said = capsys.readouterr().err
    assert f"production needs 1 valid approval(s) for {digest(2)[:19]}" in said
    assert f"{digest(2)[:19]} has not run healthy in staging" in said
    ((action, op),) = [(e["action"], e["details"]["op"]) for e in entries(project)]
    assert (action, op) == ("refuse", "promote")  # promote records its refusal; start had none


def test_retry_cannot_bring_an_aborted_candidate_back_around_the_gates(
    project: Path, capsys
) -> None:
    """A canary promote began and the analysis aborted: trying it again is a new promotion,
    gated again (an approval may have been revoked since)."""
    before = save(project, "production", "aborted")
    err = gated(["rollout", "retry", "production", "--print-statement"], capsys)
    assert f"production is gated ({PRODUCTION_GATES}): `lockgate rollout retry` would go " in err
    assert f"run `lockgate promote production --image {CANDIDATE}`" in err
    assert gated(["rollout", "retry", "production"], capsys) == err
    assert store(project).load("production") == before
    assert entries(project) == []


def test_a_verify_policy_gates_even_the_first_environment(project: Path, capsys) -> None:
    """With ``policy.verify`` named, an image no trusted key signed enters no environment: the
    first one, which has no other gate, included."""
    spec = project / "lockgate.yaml"
    spec.write_text(
        spec.read_text()
        .replace("policy:\n", "policy:\n  verify: verify.yaml\n")
        .replace("{name: staging,", "{name: staging, deployer: rollout,")
    )
    (project / "verify.yaml").write_text("key: cosign.pub\nrequire: []\n")
    unsigned = "127.0.0.1:9/models/unsigned@sha256:" + "ab" * 32
    start = ["rollout", "start", "staging", "--ref", unsigned]
    err = gated([*start, "--print-statement"], capsys)
    assert err == (
        f"lockgate: error: lockgate.yaml:{line_of(project, '{name: staging')}:5: staging is gated "
        "(verify against policy.verify (verify.yaml)): `lockgate rollout start` would go around "
        f"the gates; run `lockgate promote staging --image {unsigned}`, which checks them, "
        "records the release and runs its canary"
    )
    assert gated(start, capsys) == err
    assert main(["promote", "staging", "--image", unsigned, "--author", "dana"]) == 1
    assert capsys.readouterr().err.startswith(f"verify failed for {unsigned}")
    assert [e["action"] for e in entries(project)] == ["refuse"]  # promote's, with its proof


def test_what_no_gate_protects_and_a_candidate_promote_let_in_still_roll(
    project: Path, capsys
) -> None:
    """The first environment of a project naming no verify policy, and one only the older
    delivery.yaml describes, have no gate to go around: ``start`` is proven and recorded as
    before. In a gated environment, the actions on a candidate already in flight stay."""
    (project / "delivery.yaml").write_text("environments:\n  sandbox: {}\n")
    for env in ("staging", "sandbox"):
        assert main(["rollout", "start", env, "--ref", CANDIDATE, "--print-statement"]) == 0
        assert f"op: rollout start\nenvironment: {env}\n" in capsys.readouterr().out
    save(project, "production", "paused")
    for action in (["resume"], ["promote", "--full"], ["abort"]):
        assert main(["rollout", *action, "production", "--print-statement"]) == 0
        assert f"image: {CANDIDATE}\n" in capsys.readouterr().out
