"""The git-branch ledger against a real bare repository as the remote: writers in two clones
race, pushes are retried on non-fast-forward, and the result is one valid chain."""

from __future__ import annotations

import multiprocessing
import subprocess
from pathlib import Path

import pytest

from lockgate.delivery.ledger.audit import audit_ledger
from lockgate.delivery.ledger.entry import Draft
from lockgate.delivery.ledger.gitledger import GitLedger
from lockgate.delivery.ledger.ledger import LedgerError
from lockgate.delivery.ledger.witness import RolledBack


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def clones(tmp_path: Path) -> tuple[Path, Path, Path]:
    remote = tmp_path / "remote.git"
    git("init", "-q", "--bare", str(remote), cwd=tmp_path)
    out = []
    for name in ("alice", "bob"):
        git("clone", "-q", str(remote), name, cwd=tmp_path)
        out.append(tmp_path / name)
    return remote, out[0], out[1]


def store(clone: Path) -> GitLedger:
    return GitLedger(clone, clone / ".lockgate" / "ledger")


def draft(who: str, n: int) -> Draft:
    return Draft(
        action="approve",
        actor=who,
        actor_source="test",
        environment="production",
        digest=f"sha256:{n:064x}",
    )


def _writer(clone: str, who: str, count: int) -> None:
    ledger = store(Path(clone))
    for n in range(count):
        ledger.append(draft(who, n))


def test_entries_travel_through_the_branch(clones) -> None:
    remote, alice, bob = clones
    store(alice).append(draft("alice", 1))
    b = store(bob)
    b.fetch()
    assert [e.actor for e in b.entries()] == ["alice"]
    b.append(draft("bob", 2))
    assert git("log", "--format=%s", "lockgate-ledger", cwd=remote).splitlines() == [
        "ledger entry 2: approve production",
        "ledger entry 1: approve production",
    ]
    assert git("status", "--porcelain", "--untracked-files=no", cwd=alice) == ""  # tree untouched


def test_concurrent_writers_in_two_clones_retry_until_one_chain(clones) -> None:
    remote, alice, bob = clones
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_writer, args=(str(c), c.name + str(i), 6))
        for c in (alice, bob)
        for i in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    check = store(alice)
    check.fetch()
    report = audit_ledger(check.folder)
    assert report.ok and report.entries == 24, report.problems
    assert len(git("log", "--format=%H", "lockgate-ledger", cwd=remote).split()) == 24


def test_a_remote_that_lost_entries_is_refused(clones) -> None:
    remote, alice, _bob = clones
    a = store(alice)
    for n in range(3):
        a.append(draft("alice", n))
    first = git("rev-list", "--reverse", "lockgate-ledger", cwd=remote).split()[0]
    git("update-ref", "refs/heads/lockgate-ledger", first, cwd=remote)  # a force-push
    with pytest.raises(LedgerError, match="it lost 2 entries"):
        a.fetch()


def test_an_old_ledger_pushed_back_as_a_fast_forward_is_refused_on_a_fresh_clone(
    clones, tmp_path: Path
) -> None:
    """The rollback attack on the team store: a new commit on top of the tip whose tree is an
    older ledger (the revoke gone). A plain push accepts it; a clone that has never seen the
    later entries still refuses it, because each commit must extend its parent's ledger."""
    remote, alice, _bob = clones
    a = store(alice)
    for n in range(3):
        a.append(draft("alice", n))
    old = git("rev-list", "--reverse", "lockgate-ledger", cwd=remote).split()[0]
    tip = git("rev-parse", "lockgate-ledger", cwd=remote).strip()
    tree = git("rev-parse", f"{old}^{{tree}}", cwd=remote).strip()
    env_git = ["-c", "user.name=m", "-c", "user.email=m@x"]
    replay = git(*env_git, "commit-tree", tree, "-p", tip, "-m", "ledger entry 4", cwd=remote)
    git("update-ref", "refs/heads/lockgate-ledger", replay.strip(), tip, cwd=remote)  # ff only

    git("clone", "-q", str(remote), "fresh", cwd=tmp_path)
    fresh = store(tmp_path / "fresh")
    with pytest.raises(RolledBack, match="does not extend the ledger of its parent"):
        fresh.fetch()
    with pytest.raises(RolledBack):
        fresh.append(draft("mallory", 9))
    assert git("rev-parse", "lockgate-ledger", cwd=remote).strip() == replay.strip()
