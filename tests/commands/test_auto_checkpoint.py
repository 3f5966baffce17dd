"""`policy.ledger.checkpoint_every`: a release command run with the ledger's own key writes a
signed checkpoint once that many entries follow the last one, so a fresh machine's first audit
stays short without a scheduled job. Real signed ledgers and keys, through the real CLI entry
point; the cheap look for a due checkpoint is checked against a parse of every line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.__main__ import main
from lockgate.delivery.ledger.checkpoint import ACTION
from lockgate.delivery.ledger.entry import Draft
from lockgate.delivery.ledger.ledger import FileLedger
from lockgate.delivery.ledger.signing import checker_of_private, generate_key_pair, load_signer
from lockgate.delivery.ledger.vouch import checkpoint_due, write_checkpoint
from tests.delivery.gatekit import SPEC, digest
from tests.delivery.people import Team


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    team = Team(tmp_path, {name: () for name in ("lena", "carol", "sre", "ci-bot")})
    generate_key_pair(tmp_path / "ledger.pem", tmp_path / "ledger.pub")
    generate_key_pair(tmp_path / "other.pem", tmp_path / "other.pub")
    for variable in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_USER_ID", "LOCKGATE_SIGNING_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LOCKGATE_IDENTITY_KEY", str(tmp_path / "keys" / "lena"))
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, team.allowed_signers.name, every=3)
    return tmp_path


def write_spec(root: Path, signers: str, every: int, public_key: str = "ledger.pub") -> None:
    ledger = f"  ledger: {{public_key: {public_key}, checkpoint_every: {every}}}\n"
    spec = SPEC.replace("policy:\n", f"policy:\n  allowed_signers: {signers}\n{ledger}")
    (root / "lockgate.yaml").write_text(spec)


def approve(n: int, key: str = "ledger.pem") -> None:
    assert main(["approve", "production", "--digest", digest(n), "--signing-key", key]) == 0


def actions(root: Path) -> list[str]:
    path = root / ".lockgate" / "ledger" / "ledger.jsonl"
    lines = path.read_bytes().splitlines() if path.exists() else []
    return [json.loads(line)["action"] for line in lines]


def test_every_third_entry_is_followed_by_a_checkpoint_that_a_fresh_audit_uses(
    project: Path, capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    for n in range(1, 8):
        approve(n)
    assert actions(project) == [*["approve"] * 3, ACTION, *["approve"] * 3, ACTION, "approve"]
    err = capsys.readouterr().err
    assert "entry 4: checkpoint: an audit with the ledger key passed entries 1-3" in err
    assert "entry 8: checkpoint: an audit with the ledger key passed entries 1-7" in err
    ledger = project / ".lockgate" / "ledger"
    checkpoint = json.loads((ledger / "ledger.jsonl").read_bytes().splitlines()[7])
    assert checkpoint["details"]["signatures_checked_from"] == 4  # after the first one's range
    assert checkpoint["signature"]
    # a fresh machine (no witness, no audit record) skips the signatures entry 8 vouches for
    fresh = tmp_path_factory.mktemp("fresh")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOCKGATE_WITNESS_DIR", str(fresh))
        assert main(["audit", "verify", "--public-key", "ledger.pub", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["vouched_by_checkpoint"]["through"] == 7


def test_a_writer_without_the_ledger_key_or_with_the_setting_off_writes_none(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signers = "allowed_signers"
    write_spec(project, signers, every=0)
    for n in range(1, 5):
        approve(n)
    assert ACTION not in actions(project)
    # no spec key: the writer's own key is the ledger's, so it vouches
    write_spec(project, signers, every=3, public_key="null")
    approve(5)
    assert actions(project)[-1] == ACTION
    # a spec key the writer does not hold: refused before anything is read or written
    write_spec(project, signers, every=1)
    before = (project / ".lockgate" / "ledger" / "ledger.jsonl").read_bytes()
    capsys.readouterr()
    assert main(["approve", "production", "--digest", digest(6), "--signing-key", "other.pem"]) == 2
    err = capsys.readouterr().err
    assert "--signing-key other.pem (or LOCKGATE_SIGNING_KEY) is not the private half of " in err
    assert "policy.ledger.public_key (ledger.pub)" in err and "Traceback" not in err
    assert (project / ".lockgate" / "ledger" / "ledger.jsonl").read_bytes() == before


def test_each_release_command_checkpoints_after_its_own_entries(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """promote, rollback, approve, approve --revoke and health, with ``checkpoint_every: 1``:
    whatever the command decided (refusals are entries too), its last entry is followed by a
    checkpoint, and its exit code is the decision's."""
    write_spec(project, "allowed_signers", every=1)
    key = ("--signing-key", "ledger.pem")
    ref = "127.0.0.1:9/models/absent@sha256:" + "ab" * 32
    monkeypatch.setenv("LOCKGATE_VERIFY_PLAIN_HTTP", "1")
    commands = [
        ("ci-bot", ["promote", "staging", "--image", ref, "--author", "dana", *key], 1),
        ("ci-bot", ["rollback", "staging", *key], 1),
        ("lena", ["approve", "production", "--digest", digest(1), *key], 0),
        ("lena", ["approve", "production", "--digest", digest(1), "--revoke", *key], 0),
        ("sre", ["health", "staging", "--mark", "healthy", *key], 0),
    ]
    for who, argv, code in commands:
        if argv[0] == "health":  # something released to mark: a promotion the key signed
            FileLedger(
                project / ".lockgate" / "ledger", signer=load_signer(project / "ledger.pem")
            ).append(
                Draft(
                    "promote", "ci-bot", "ssh-key", "staging", digest(2), image=f"r/m@{digest(2)}"
                )
            )
        monkeypatch.setenv("LOCKGATE_IDENTITY_KEY", str(project / "keys" / who))
        before = len(actions(project))
        assert main(argv) == code, (argv, capsys.readouterr())
        after = actions(project)
        assert len(after) > before + 1 and after[-1] == ACTION, (argv, after)
        assert ACTION not in after[before:-1], argv
        assert "checkpoint: an audit with the ledger key passed" in capsys.readouterr().err
    assert main(["audit", "verify", "--public-key", "ledger.pub"]) == 0


@pytest.mark.parametrize("every", [1, 2, 3, 5, 40])
def test_the_cheap_look_agrees_with_a_parse_of_every_line(tmp_path: Path, every: int) -> None:
    """``checkpoint_due`` reads the ledger backwards in blocks; lines cut by a block's edge, a
    details text that holds the action's bytes, and the first line itself all count right."""
    import lockgate.delivery.ledger.vouch as vouch

    generate_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    check = checker_of_private(tmp_path / "k.pem")
    ledger = FileLedger(tmp_path / "l", signer=load_signer(tmp_path / "k.pem"), checker=check)
    marked = '{"action":"checkpoint"'
    for n in range(1, 30):
        if n % 7 == 0:
            write_checkpoint(ledger, check)
        else:
            ledger.append(Draft("approve", "a", "ssh-key", "p", digest(n), reason=marked * n))
        seen = 0
        for line in reversed((ledger.folder / "ledger.jsonl").read_bytes().splitlines()):
            if json.loads(line)["action"] == ACTION:
                break
            seen += 1
        for block in (37, 200, 1 << 20):
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(vouch, "_BLOCK", block)
                assert checkpoint_due(ledger.folder, every) == (seen >= every), (n, block)
