"""``lockgate rollout`` proves who decides, like every release command, and records it.

Through the real CLI entry point, real keys (signed with the real ssh-keygen where a person would
use it), the real allowed-signers file and the real embedded ledger. The rollout record is
written here as an earlier lockgate process would have left it; every command below is refused
before it changes anything, so no container is started (tests/delivery/test_rollout_ledger.py
runs proven rollouts on real containers)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lockgate.__main__ import main
from lockgate.delivery.rollout.state import RolloutState, StateStore
from lockgate.delivery.rollout.targets.base import Version
from tests.conftest import missing_component
from tests.delivery.gatekit import REPO, SPEC, digest
from tests.delivery.people import Team

ENV = "staging"
STABLE, CANDIDATE = f"{REPO}@{digest(1)}", f"{REPO}@{digest(2)}"
STEPS = "canary: {steps: [{weight: 10, pause: {}}, {weight: 25, pause: {}}, {weight: 100}]}"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if shutil.which("ssh-keygen") is None:
        missing_component("ssh-keygen (openssh-client) is not installed")
    team = Team(tmp_path, {"sre": ()}, strangers=("eve",))
    spec = SPEC.replace(
        "  - {name: staging, health_markers: [sre]}\n",
        f"  - {{name: staging, health_markers: [sre], rollout: {{{STEPS}}}}}\n",
    ).replace("policy:\n", f"policy:\n  allowed_signers: {team.allowed_signers.name}\n")
    (tmp_path / "lockgate.yaml").write_text(spec)
    for variable in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_USER_ID", "LOCKGATE_IDENTITY_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def save(project: Path, phase: str, weight: int = 0, step: int = 0) -> RolloutState:
    """The record a rollout of CANDIDATE over STABLE left: ``weight`` percent at ``step``."""
    state = RolloutState(
        ENV,
        phase,  # type: ignore[arg-type]  # a Phase
        stable=Version(1, STABLE),
        canary=Version(2, CANDIDATE, (("SHIFT", "0.1"),)),
        weight=weight,
        step=step,
        previous=Version(0, f"{REPO}@{digest(0)}"),
        next_revision=3,
    )
    return StateStore(project / ".lockgate" / "state" / "delivery").save(state)


def rows(project: Path) -> list[dict]:
    ledger = project / ".lockgate" / "ledger" / "ledger.jsonl"
    return [json.loads(line) for line in ledger.read_text().splitlines()]


def statement(command: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main([*command, "--print-statement"]) == 0
    return capsys.readouterr().out


def signed(command: list[str], who: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """``command --print-statement``, signed by ``who`` with ssh-keygen: the flags to pass."""
    path = Path(f"statement-{len(list(Path().glob('statement-*')))}")
    path.write_text(statement(command, capsys))
    subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-f", f"keys/{who}", "-n", "lockgate", str(path)],
        check=True,
        capture_output=True,
    )
    return ["--signed-statement", str(path)]


def refused(command: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(command) == 1
    err = capsys.readouterr().err
    assert err.startswith("lockgate: error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    return err


@pytest.mark.parametrize(
    ("command", "phase", "op"),
    [
        (["rollout", "start", ENV, "--ref", CANDIDATE], "completed", "rollout start"),
        (["rollout", "resume", ENV], "paused", "rollout resume"),
        (["rollout", "promote", ENV], "paused", "rollout resume"),
        (["rollout", "promote", ENV, "--full"], "paused", "rollout promote"),
        (["rollout", "retry", ENV], "aborted", "rollout retry"),
        (["rollout", "abort", ENV], "paused", "rollout abort"),
        (["rollout", "abort", ENV], "completed", "rollout abort"),  # a rollback
    ],
)
def test_an_unproven_rollout_decision_changes_nothing_and_is_recorded(
    project: Path, monkeypatch, capsys, command: list[str], phase: str, op: str
) -> None:
    before = save(project, phase, weight=10, step=1)
    monkeypatch.setenv("GITHUB_ACTOR", "sre")  # a claim anyone can set
    err = refused(command, capsys)
    assert err.startswith("lockgate: error: identity not proven: sign with your key")
    assert "GITHUB_ACTOR=sre is a claim anyone can set, not a proof" in err
    monkeypatch.setenv("LOCKGATE_IDENTITY_KEY", str(project / "keys" / "eve"))  # not listed
    assert "identity not proven" in refused(command, capsys)
    assert {(r["action"], r["actor"], r["details"]["op"]) for r in rows(project)} == {
        ("refuse", "(unproven)", op)
    }
    assert rows(project)[0]["details"]["claimed"] == "GITHUB_ACTOR=sre"
    assert StateStore(project / ".lockgate" / "state" / "delivery").load(ENV) == before
    assert main(["audit", "verify"]) == 0


def test_statements_name_the_digest_weight_and_steps_each_decision_decides(
    project: Path, capsys
) -> None:
    save(project, "paused", weight=10, step=1)
    core = f"environment: {ENV}\ndigest: {digest(2)}\nimage: {CANDIDATE}\n"
    resume = statement(["rollout", "resume", ENV], capsys)
    assert resume.startswith(f"lockgate statement v2\nop: rollout resume\n{core}")
    assert f"stable: {STABLE}\nweight: 10%\nsteps: 25%, 100%\ntime: " in resume
    full = statement(["rollout", "promote", ENV, "--full"], capsys)
    assert f"op: rollout promote\n{core}stable: {STABLE}\nweight: 10%\n" in full
    assert "to: 100% now\nskipping: 25%, 100%\ntime: " in full
    abort = statement(["rollout", "abort", ENV], capsys)
    assert f"op: rollout abort\n{core}weight: 10%\nback to: {STABLE}\ntime: " in abort
    start = statement(["rollout", "start", ENV, "--ref", STABLE, "--set-env", "A=1"], capsys)
    assert f"op: rollout start\nenvironment: {ENV}\ndigest: {digest(1)}\n" in start
    assert f'set-env: {{"A": "1"}}\nstable: {STABLE}\nin flight: {CANDIDATE} at 10%\n' in start
    assert "steps: 10%, 25%, 100%\ntime: " in start
    save(project, "completed")  # nothing in flight: abort rolls the stable back
    back = statement(["rollout", "abort", ENV], capsys)
    assert f"digest: {digest(1)}\nimage: {STABLE}\nweight: 100%\nback to: {REPO}@{digest(0)}\n" in (
        back
    )
    save(project, "aborted", weight=0, step=0)
    retry = statement(["rollout", "retry", ENV], capsys)
    assert f'{core}set-env: {{"SHIFT": "0.1"}}\nstable: {STABLE}\nin flight: -\n' in retry
    assert not (
        project / ".lockgate" / "ledger" / "ledger.jsonl"
    ).exists()  # printing decides nothing


def test_a_signed_rollout_decision_proves_no_other(project: Path, capsys) -> None:
    save(project, "paused", weight=10, step=1)
    full = ["rollout", "promote", ENV, "--full"]
    proof = signed(full, "sre", capsys)
    assert "is for op rollout promote, not rollout resume" in refused(
        ["rollout", "resume", ENV, *proof], capsys
    )
    assert "is for op rollout promote, not rollout abort" in refused(
        ["rollout", "abort", ENV, *proof], capsys
    )
    save(project, "paused", weight=25, step=2)  # the canary moved on since it was signed
    assert "the signed statement is for weight 10%, not 25%" in refused([*full, *proof], capsys)
    assert [(r["action"], r["actor"], r["details"]["op"]) for r in rows(project)] == [
        ("refuse", "(unproven)", "rollout resume"),
        ("refuse", "(unproven)", "rollout abort"),
        ("refuse", "(unproven)", "rollout promote"),
    ]
    assert all(r["digest"] == digest(2) for r in rows(project))
    assert StateStore(project / ".lockgate" / "state" / "delivery").load(ENV).weight == 25


def test_nothing_to_decide_is_bad_input_before_any_proof(project: Path, capsys) -> None:
    assert main(["rollout", "promote", ENV, "--full", "--print-statement"]) == 2
    err = capsys.readouterr().err
    assert "has no rollout to promote (idle)" in err and "Traceback" not in err
    assert not (project / ".lockgate" / "ledger").exists()
