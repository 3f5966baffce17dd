"""A signed statement names everything its command decides: the health mark and the release it
is about, the rollback's target, the release it replaces and whether it is an emergency, an
approval's lifetime, a promotion's image, model, author and data-check. Signed for one of these,
it proves no other. And every decision is recorded: a promotion that finds the environment
unchanged and a refused revocation write their entry (with the proof), so their statements cannot
be used again. Real keys signed with the real ssh-keygen, the real allowed-signers file, the real
CLI entry point; promote and rollback meet the real verifier, which refuses these images (no
trusted key is configured), after the identity was proven."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lockgate.__main__ import main
from lockgate.delivery.ledger.entry import Draft
from lockgate.delivery.ledger.ledger import FileLedger
from tests.conftest import missing_component
from tests.delivery.gatekit import REPO, SPEC, digest, image
from tests.delivery.people import Team

D1, D2, D3, D4 = (digest(n) for n in (1, 2, 3, 4))
EMERGENCY = SPEC.replace(
    "{name: staging, health_markers: [sre]}",
    "{name: staging, health_markers: [sre], emergency: [sre]}",
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if shutil.which("ssh-keygen") is None:
        missing_component("ssh-keygen (openssh-client) is not installed")
    team = Team(tmp_path, {name: () for name in ("lena", "sre", "ci-bot")})
    spec = EMERGENCY.replace(
        "policy:\n", f"policy:\n  allowed_signers: {team.allowed_signers.name}\n"
    )
    (tmp_path / "lockgate.yaml").write_text(spec)
    for variable in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_USER_ID", "LOCKGATE_IDENTITY_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LOCKGATE_VERIFY_PLAIN_HTTP", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def rows(project: Path) -> list[dict]:
    lines = (project / ".lockgate" / "ledger" / "ledger.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def record(project: Path, action: str, env: str, n: int) -> None:
    """What earlier commands left in the ledger: a deploy of image n, or its health verdict."""
    fields = {"image": image(n)} if action == "promote" else {"details": {"check": "deployer"}}
    FileLedger(project / ".lockgate" / "ledger").append(
        Draft(action, "ci-bot", "github", environment=env, digest=digest(n), **fields)
    )


def signed(command: list[str], who: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """``command --print-statement``, signed by ``who`` with ssh-keygen: the flags to pass."""
    assert main([*command, "--print-statement"]) == 0
    statement = Path(f"statement-{len(list(Path().glob('statement-*')))}")
    statement.write_text(capsys.readouterr().out)
    subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-f", f"keys/{who}", "-n", "lockgate", str(statement)],
        check=True,
        capture_output=True,
    )
    return ["--signed-statement", str(statement)]


def refused(command: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(command) == 1
    err = capsys.readouterr().err
    assert err.startswith("lockgate: error: identity not proven: the signed statement")
    assert "Traceback" not in err
    return err


def test_a_health_statement_names_the_mark_and_the_release(project: Path, capsys) -> None:
    record(project, "promote", "staging", 1)
    healthy = ["health", "staging", "--mark", "healthy"]
    proof = signed(healthy, "sre", capsys)
    assert "mark: healthy\n" in Path(proof[1]).read_text()
    unhealthy = ["health", "staging", "--mark", "unhealthy", *proof]
    assert "is for mark healthy, not unhealthy" in refused(unhealthy, capsys)
    asked = ["health", "staging", *proof]  # the deployer's verdict, not a mark
    assert "is for mark healthy, not deployer" in refused(asked, capsys)
    record(project, "promote", "staging", 2)  # signed while 1 ran: it says nothing about 2
    assert f"is for digest {D1}, not {D2}" in refused([*healthy, *proof], capsys)
    refusals = [r for r in rows(project) if r["action"] == "refuse"]
    assert [r["actor"] for r in refusals] == ["(unproven)"] * 3
    assert main([*healthy, *signed(healthy, "sre", capsys)]) == 0
    assert (rows(project)[-1]["action"], rows(project)[-1]["digest"]) == ("healthy", D2)


def test_a_rollback_statement_names_its_target_what_it_replaces_and_emergency(
    project: Path, capsys
) -> None:
    for n in (1, 2):
        record(project, "promote", "staging", n)
        record(project, "healthy", "staging", n)
    record(project, "promote", "staging", 3)
    back = ["rollback", "staging"]
    proof = signed(back, "sre", capsys)
    text = Path(proof[1]).read_text()
    assert f"digest: {D2}\nreplacing: {D3}\nemergency: no\n" in text
    assert f"is for digest {D2}, not {D1}" in refused([*back, "--to", D1, *proof], capsys)
    assert "is for emergency no, not yes" in refused([*back, "--emergency", *proof], capsys)
    record(project, "promote", "staging", 4)  # the environment moved on: 4 runs now, not 3
    assert f"is for replacing {D3}, not {D4}" in refused([*back, *proof], capsys)
    refusals = [r for r in rows(project) if r["action"] == "refuse"]
    assert [r["actor"] for r in refusals] == ["(unproven)"] * 3
    # signed for what it does, the rollback is proven and goes on to the gate (verify refuses)
    assert main([*back, "--to", D1, *signed([*back, "--to", D1], "sre", capsys)]) == 1
    last = rows(project)[-1]
    assert (last["action"], last["actor"], last["digest"]) == ("refuse", "sre", D1)
    assert last["reason"].startswith(f"verify failed for {image(1)}")


def test_an_approval_statement_names_its_lifetime(project: Path, capsys) -> None:
    two_hours = ["approve", "production", "--digest", D1, "--expires", "2h"]
    proof = signed(two_hours, "lena", capsys)
    longer = ["approve", "production", "--digest", D1, "--expires", "30d", *proof]
    assert "is for expires after 2h, not 1d" in refused(longer, capsys)  # capped at 24h
    default = ["approve", "production", "--digest", D1, *proof]
    assert "is for expires after 2h, not 1d" in refused(default, capsys)
    revoke = ["approve", "production", "--digest", D1, "--revoke", *proof]
    assert "is for op approve, not revoke" in refused(revoke, capsys)
    assert main([*two_hours, "--expires", "120m", *proof]) == 0  # the same lifetime
    assert rows(project)[-1]["action"] == "approve"


def test_a_promotion_statement_names_image_model_author_and_data_check(
    project: Path, capsys
) -> None:
    promote = ["promote", "staging", "--image", image(1), "--author", "dana"]
    proof = signed(promote, "ci-bot", capsys)
    text = Path(proof[1]).read_text()
    assert f"image: {image(1)}\nmodel: -\nauthor: dana\ndata-check: -\n" in text
    elsewhere = ["promote", "staging", "--image", image(1, "127.0.0.1:9/ml/fraud")]
    assert "is for image" in refused([*elsewhere, "--author", "dana", *proof], capsys)
    assert "is for author dana, not mallory" in refused(
        [*promote[:4], "--author", "mallory", *proof], capsys
    )
    assert "is for model -, not models:/fraud/3" in refused(
        [*promote, "--model", "models:/fraud/3", *proof], capsys
    )
    check = project / "data-check.json"
    check.write_text('{"pii_detected": []}')
    assert "is for data-check -, not sha256:" in refused(
        [*promote, "--data-check", str(check), *proof], capsys
    )
    assert [r["actor"] for r in rows(project)] == ["(unproven)"] * 4
    assert main([*promote, *proof]) == 1  # proven; the real verifier refuses the image
    assert (rows(project)[-1]["actor"], rows(project)[-1]["image"]) == ("ci-bot", image(1))


def test_a_promotion_that_changes_nothing_is_recorded_and_its_statement_used(
    project: Path, capsys
) -> None:
    record(project, "promote", "staging", 1)
    promote = ["promote", "staging", "--image", f"{REPO}@{D1}"]
    proof = signed(promote, "ci-bot", capsys)
    assert main([*promote, *proof]) == 0
    assert f"entry 2: staging already runs {D1[:19]} (entry 1)" in capsys.readouterr().out
    entry = rows(project)[-1]
    assert (entry["action"], entry["actor"], entry["details"]["release"]) == (
        "unchanged",
        "ci-bot",
        1,
    )
    assert entry["details"]["proof"]["statement"] == Path(proof[1]).read_text()
    assert main([*promote, *proof]) == 1
    assert "this signed statement was already used (entry 2)" in capsys.readouterr().err
    assert main(["audit", "verify"]) == 0


def test_a_refused_revocation_is_recorded_and_its_statement_used(project: Path, capsys) -> None:
    revoke = ["approve", "production", "--digest", D1, "--revoke"]
    proof = signed(revoke, "lena", capsys)
    assert main([*revoke, *proof]) == 1
    assert "lena has no standing approval" in capsys.readouterr().err
    (entry,) = rows(project)
    assert (entry["action"], entry["actor"], entry["details"]["op"]) == ("refuse", "lena", "revoke")
    assert entry["reason"].startswith("lena has no standing approval of")
    assert entry["details"]["proof"]["statement"] == Path(proof[1]).read_text()
    assert main([*revoke, *proof]) == 1
    assert "this signed statement was already used (entry 1)" in capsys.readouterr().err


def test_a_version_1_statement_proves_no_command_that_decides_more(project: Path, capsys) -> None:
    """What `--print-statement` printed before statements named their terms: still read (the
    ledger keeps such statements), but it does not say how long the approval lasts."""
    approve = ["approve", "production", "--digest", D1]
    proof = signed(approve, "lena", capsys)
    path = Path(proof[1])
    old = path.read_text().replace("v2", "v1").replace("expires after: 1d\n", "")
    path.write_text(old)
    subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-f", "keys/lena", "-n", "lockgate", str(path)],
        check=True,
        capture_output=True,
        input="y\n",
        text=True,
    )
    err = refused([*approve, *proof], capsys)
    assert "is a lockgate statement v1, with no 'expires after' line" in err
    assert "print the statement anew with --print-statement and sign that" in err


def test_a_term_with_a_line_break_is_refused_before_anything_is_signed(
    project: Path, capsys
) -> None:
    code = main(
        [
            "promote",
            "staging",
            "--image",
            image(1),
            "--author",
            "dana\nauthor: x",
            "--print-statement",
        ]
    )
    assert code != 0
    err = capsys.readouterr().err
    assert "author 'dana\\nauthor: x': a signed statement holds one line per term" in err
