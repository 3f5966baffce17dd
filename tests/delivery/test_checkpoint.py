"""Signed audit checkpoints: `lockgate audit checkpoint` audits with the ledger's key and appends
an entry, signed with it, vouching for every entry before it; later audits and gate reads check
every line's hash and link but not the signatures it vouches for. Real signed ledgers, real
Ed25519 keys, the real command; every signature check is counted."""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lockgate.delivery.ledger.audit import AuditReport, audit_ledger
from lockgate.delivery.ledger.checkpoint import details
from lockgate.delivery.ledger.entry import Draft, canonical, read_line, seal
from lockgate.delivery.ledger.head import Head, write_atomic
from lockgate.delivery.ledger.ledger import FileLedger, LedgerError, read_head
from lockgate.delivery.ledger.signing import (
    checker_of_private,
    generate_key_pair,
    load_checker,
    load_signer,
)
from lockgate.delivery.ledger.verification import KeyChecker
from lockgate.delivery.ledger.vouch import write_checkpoint
from tests.delivery.gatekit import image, make_world

Keys = tuple[Path, Path]

PROJECT = """\
version: 1
name: vouch
image: {{base: lockgate/debian:bookworm}}
stages:
  train: {{run: [python3, train.py]}}
environments:
  - {{name: staging}}
policy:
  ledger: {{{ledger}}}
"""


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    generate_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    return tmp_path / "k.pem", tmp_path / "k.pub"


class Counting:
    """A checker that counts the signatures it is asked to check."""

    def __init__(self, inner: KeyChecker) -> None:
        self.inner, self.key_id, self.calls = inner, inner.key_id, 0

    def __call__(self, payload: bytes, signature: str) -> bool:
        self.calls += 1
        return self.inner(payload, signature)


def draft(n: int, **extra: object) -> Draft:
    return Draft("approve", "alice", "github", "production", f"sha256:{n:064x}", **extra)  # type: ignore[arg-type]


def signed(folder: Path, keys: Keys, count: int) -> FileLedger:
    ledger = FileLedger(folder, signer=load_signer(keys[0]), checker=checker_of_private(keys[0]))
    for n in range(1, count + 1):
        ledger.append(draft(n))
    return ledger


def audit(folder: Path, keys: Keys, **options: bool) -> tuple[AuditReport, int]:
    """A first audit (no record of an earlier one) with a counting checker."""
    check = Counting(load_checker(keys[1]))
    return audit_ledger(folder, check, **options), check.calls  # type: ignore[arg-type]


def cli(*args: str, witness: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockgate", "audit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "LOCKGATE_WITNESS_DIR": str(witness), "NO_COLOR": "1"},
    )


def append_raw(folder: Path, line: bytes, signer: object = None) -> None:
    """Append ``line`` and move the head over it, re-signing the head with ``signer`` when
    given (what the key's holder can do), else leaving the head's old signature (what anyone
    can)."""
    head = read_head(folder)
    assert head is not None
    with open(folder / "ledger.jsonl", "ab") as f:
        f.write(line)
    entry = json.loads(line)  # read as JSON: the line may be one read_line refuses
    moved = Head(entry["seq"], entry["hash"], head.size + len(line), entry["time"])
    signature = signer(moved.anchor_payload()) if callable(signer) else head.signature
    body = {**moved.to_json(), "signature": signature}
    write_atomic(folder / "ledger.head", json.dumps(body, sort_keys=True).encode())


def test_the_command_writes_a_checkpoint_that_a_fresh_machine_s_audit_uses(
    tmp_path: Path, keys: Keys
) -> None:
    folder = tmp_path / "ledger"
    signed(folder, keys, 40)
    done = cli(
        *("checkpoint", "--ledger", str(folder), "--signing-key", str(keys[0]), "--json"),
        witness=tmp_path / "writer",
    )
    assert done.returncode == 0, done.stderr
    written = json.loads(done.stdout)
    assert (written["written"], written["through"], written["signatures_checked_from"]) == (
        41,
        40,
        1,
    )
    entry = read_line((folder / "ledger.jsonl").read_bytes().splitlines()[-1])
    assert (entry.action, entry.environment, entry.digest) == ("checkpoint", None, None)
    assert entry.details["through"] == 40 and entry.signature
    assert entry.details["through_hash"] == entry.prev

    # a machine that never audited this ledger: 40 signatures not checked again
    report, calls = audit(folder, keys)
    assert report.ok and report.entries == 41
    assert report.checkpoint is not None and report.checkpoint.through == 40
    assert calls <= 3  # the checkpoint (found, then as a line) and the head
    full, full_calls = audit(folder, keys, checkpoints=False)
    assert full.ok and full.checkpoint is None and full_calls == 42

    verify = cli(
        *("verify", "--ledger", str(folder), "--public-key", str(keys[1])),
        witness=tmp_path / "fresh",
    )
    assert verify.returncode == 0, verify.stderr
    assert "entries 1-40 were not checked again" in verify.stdout
    assert "checkpoint at entry 41" in verify.stdout
    as_json = cli(
        *("verify", "--ledger", str(folder), "--public-key", str(keys[1]), "--json", "--full"),
        witness=tmp_path / "fresh2",
    )
    assert json.loads(as_json.stdout)["vouched_by_checkpoint"] is None

    again = cli(
        *("checkpoint", "--ledger", str(folder), "--signing-key", str(keys[0])),
        witness=tmp_path / "writer",
    )
    assert again.returncode == 0 and "nothing was written" in again.stdout
    assert read_head(folder).seq == 41  # type: ignore[union-attr]


def test_only_the_signatures_a_checkpoint_covers_are_skipped(tmp_path: Path, keys: Keys) -> None:
    """The signature of an entry after the checkpoint is checked; one inside its range is the
    key holder's word, which only --full checks again. The line's hash and links always are."""
    folder = tmp_path / "ledger"
    ledger = signed(folder, keys, 6)
    check = checker_of_private(keys[0])
    assert write_checkpoint(ledger, check).written is not None  # entry 7, through 6
    for n in (8, 9):
        ledger.append(draft(n))
    later = (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    # entry 9 re-signed with another key, re-hashed, head re-signed by the holder: found
    generate_key_pair(tmp_path / "x.pem", tmp_path / "x.pub")
    other = load_signer(tmp_path / "x.pem")
    nine = read_line(later[8])
    forged = seal(draft(9), 9, nine.time, nine.prev, other).line()
    (folder / "ledger.jsonl").write_bytes(b"".join(later[:8]))
    head = Head(8, read_line(later[7]).hash, sum(map(len, later[:8])), read_line(later[7]).time)
    write_atomic(folder / "ledger.head", json.dumps(head.to_json()).encode())
    append_raw(folder, forged, load_signer(keys[0]))
    report, _ = audit(folder, keys)
    assert report.problems == ("entry 9: signature does not verify with the given public key",)

    # the same forgery at entry 3, inside the range of a checkpoint its key's holder made
    # over it (who could sign anything): only --full finds it
    folder2 = tmp_path / "ledger2"
    signed(folder2, keys, 2)
    last = read_head(folder2)
    assert last is not None
    append_raw(folder2, seal(draft(3), 3, last.time, last.hash, other).line(), load_signer(keys[0]))
    ledger2 = FileLedger(folder2, signer=load_signer(keys[0]))  # appends without auditing
    for n in (4, 5):
        ledger2.append(draft(n))
    head2 = read_head(folder2)
    assert head2 is not None
    ledger2.append(Draft("checkpoint", "k", "ledger-key", details=details(5, head2.hash, "k", 1)))
    report, calls = audit(folder2, keys)
    assert report.ok and report.checkpoint is not None and calls <= 3
    strict, _ = audit(folder2, keys, checkpoints=False)
    assert strict.problems == ("entry 3: signature does not verify with the given public key",)


@pytest.mark.parametrize(
    "forgery",
    ["unsigned", "another key", "text inside an entry", "nested member", "wrong through_hash"],
)
def test_what_is_not_a_checkpoint_vouches_for_nothing(
    tmp_path: Path, keys: Keys, forgery: str
) -> None:
    """Each is made by someone without the ledger key (the head keeps its old signature) or,
    for the wrong hash, by the holder: every signature is then checked as without it."""
    folder = tmp_path / "ledger"
    signed(folder, keys, 5)
    head = read_head(folder)
    assert head is not None
    good = details(5, head.hash, "k", 1)
    holder = load_signer(keys[0])
    if forgery == "unsigned":
        line = seal(Draft("checkpoint", "k", "x", details=good), 6, head.time, head.hash).line()
        append_raw(folder, line)
    elif forgery == "another key":
        generate_key_pair(tmp_path / "x.pem", tmp_path / "x.pub")
        other = load_signer(tmp_path / "x.pem")
        line = seal(Draft("checkpoint", "k", "x", details=good), 6, head.time, head.hash, other)
        append_raw(folder, line.line())
    elif forgery == "text inside an entry":
        mark = 'x","action":"checkpoint","details":{"through":5,"through_hash":"' + head.hash
        line = seal(draft(6, reason=mark), 6, head.time, head.hash, holder).line()
        append_raw(folder, line, holder)
    elif forgery == "nested member":
        nested = {"action": "checkpoint", **good}
        line = seal(draft(6, details=nested), 6, head.time, head.hash, holder).line()
        append_raw(folder, line, holder)
    else:
        wrong = details(5, "0" * 64, "k", 1)
        line = seal(Draft("checkpoint", "k", "x", details=wrong), 6, head.time, head.hash, holder)
        append_raw(folder, line.line(), holder)
    report, calls = audit(folder, keys)
    assert report.checkpoint is None
    if forgery in ("unsigned", "another key"):
        assert report.problems[0].startswith("entry 6: ")
    else:
        assert report.ok and calls >= 7  # all six entries and the head


def rehashed(rows: list[bytes], edited: int, field: str, value: str) -> list[bytes]:
    """``rows`` with one member of entry ``edited`` (1-based) changed and every hash and link
    from there on recomputed: what someone without the key can do to the chain."""
    out, prev = rows[: edited - 1], read_line(rows[edited - 2]).hash if edited > 1 else ""
    for index, row in enumerate(rows[edited - 1 :]):
        body = json.loads(row)
        body.pop("hash")
        if index == 0:
            body[field] = value
        else:
            body["prev"] = prev
        raw = canonical(body)
        prev = hashlib.sha256(raw).hexdigest()
        out.append(raw[:-1] + b',"hash":"' + prev.encode() + b'"}\n')
    return out


def test_an_edit_inside_the_vouched_range_is_found(tmp_path: Path, keys: Keys) -> None:
    """An entry edited under a checkpoint and every hash after it recomputed: the checkpoint's
    signature covers its prev, so it no longer verifies and vouches for nothing; the edited
    entry's own signature is then checked and fails."""
    folder = tmp_path / "ledger"
    ledger = signed(folder, keys, 4)
    write_checkpoint(ledger, checker_of_private(keys[0]))
    rows = (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    (folder / "ledger.jsonl").write_bytes(b"".join(rehashed(rows, 2, "actor", "mallory")))
    report, _ = audit(folder, keys)
    assert report.checkpoint is None
    assert report.problems[0] == "entry 2: signature does not verify with the given public key"


def test_a_gate_read_on_a_fresh_machine_uses_the_checkpoint_and_decides_as_before(
    tmp_path: Path, keys: Keys
) -> None:
    world = make_world(tmp_path / "world")
    signer, check = load_signer(keys[0]), checker_of_private(keys[0])
    world.ledger = FileLedger(world.ledger.folder, clock=world.clock, signer=signer, checker=check)
    for n in (1, 2):
        assert world.promoter().promote("staging", image(n), author="dana").status == "promoted"
    before = [e.seq for e in world.ledger.entries()]
    done = write_checkpoint(world.ledger, check)
    assert done.written is not None and done.through == before[-1]

    counting = Counting(load_checker(keys[1]))
    fresh = FileLedger(world.ledger.folder, clock=world.clock, signer=signer, checker=counting)
    entries = fresh.entries()
    assert [e.seq for e in entries] == [*before, done.written.seq]
    assert counting.calls <= 3
    world.ledger = fresh
    out = world.promoter().promote("staging", image(3), author="dana")
    assert out.status == "promoted", out.lines
    assert world.promoter().promote("staging", image(1), author="dana").status == "promoted"


def test_the_command_refuses_in_one_line(tmp_path: Path, keys: Keys) -> None:
    folder = tmp_path / "ledger"
    signed(folder, keys, 3)
    size = (folder / "ledger.jsonl").stat().st_size
    generate_key_pair(tmp_path / "x.pem", tmp_path / "x.pub")
    cases = {
        "no signing key": (("--ledger", str(folder)), "no signing key: pass --signing-key"),
        "another key": (
            ("--ledger", str(folder), "--signing-key", str(tmp_path / "x.pem"), "--public-key"),
            "is not the private half of the key in --public-key",
        ),
        "empty": (
            ("--ledger", str(tmp_path / "none"), "--signing-key", str(keys[0])),
            "the ledger is empty",
        ),
        "unreadable key": (
            ("--ledger", str(folder), "--signing-key", str(keys[1])),
            "cannot read the private key",
        ),
    }
    for name, (args, message) in cases.items():
        if name == "another key":
            args = (*args, str(keys[1]))
        done = cli("checkpoint", *args, witness=tmp_path / "w")
        assert done.returncode != 0, name
        assert message in done.stderr, (name, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert (folder / "ledger.jsonl").stat().st_size == size
    assert not (tmp_path / "none").exists()


def test_a_failing_audit_writes_no_checkpoint(tmp_path: Path, keys: Keys) -> None:
    folder = tmp_path / "ledger"
    signed(folder, keys, 3)
    rows = (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    rows[1] = rows[1].replace(b"alice", b"mallo")
    (folder / "ledger.jsonl").write_bytes(b"".join(rows))
    done = cli(
        *("checkpoint", "--ledger", str(folder), "--signing-key", str(keys[0])),
        witness=tmp_path / "w",
    )
    assert done.returncode == 1
    assert "FAILED audit; first bad entry: 2; no checkpoint was written" in done.stderr
    assert (folder / "ledger.jsonl").read_bytes() == b"".join(rows)
    with pytest.raises(LedgerError):
        FileLedger(folder, checker=load_checker(keys[1])).entries()


def test_a_checkpoint_travels_through_the_git_store_to_another_clone(
    tmp_path: Path, keys: Keys
) -> None:
    """A project whose spec names a git ledger and its public key: the command fetches, audits,
    appends the checkpoint as one commit on the ledger branch and pushes it; a second clone's
    first audit uses it."""
    from lockgate.delivery.ledger.gitledger import GitLedger
    from tests.projects import lockgate, write_project

    def git(*args: str, cwd: Path) -> None:
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)

    remote = tmp_path / "remote.git"
    git("init", "-q", "--bare", str(remote), cwd=tmp_path)
    spec = PROJECT.format(ledger="store: git, branch: lockgate-ledger, public_key: ledger.pub")
    clones = []
    for name in ("alice", "bob"):
        git("clone", "-q", str(remote), name, cwd=tmp_path)
        write_project(tmp_path / name, spec, {"ledger.pub": keys[1].read_text()})
        clones.append(tmp_path / name)
    alice, bob = clones
    writer = GitLedger(
        alice,
        alice / ".lockgate" / "ledger",
        signer=load_signer(keys[0]),
        checker=load_checker(keys[1]),
    )
    for n in range(1, 6):
        writer.append(draft(n))

    done = lockgate(
        *("audit", "checkpoint", "--signing-key", str(keys[0]), "--json"),
        cwd=alice,
        env={"LOCKGATE_WITNESS_DIR": str(tmp_path / "w-alice")},
    )
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout)["written"] == 6
    shown = subprocess.run(
        ["git", "show", "lockgate-ledger:ledger.jsonl"],
        cwd=remote,
        capture_output=True,
        check=True,
    ).stdout
    assert read_line(shown.splitlines()[-1]).action == "checkpoint"

    reader = GitLedger(bob, bob / ".lockgate" / "ledger", checker=load_checker(keys[1]))
    reader.fetch()
    verify = lockgate(
        *("audit", "verify", "--public-key", "ledger.pub"),
        cwd=bob,
        env={"LOCKGATE_WITNESS_DIR": str(tmp_path / "w-bob")},
    )
    assert verify.code == 0, verify.stderr
    assert "entries 1-5 were not checked again" in verify.stdout


def test_min_new_writes_only_when_enough_entries_follow_the_last_checkpoint(
    tmp_path: Path, keys: Keys
) -> None:
    """For a scheduled job: a checkpoint every N entries, not one per run."""
    folder = tmp_path / "ledger"
    ledger = signed(folder, keys, 4)

    def checkpoint(*extra: str) -> dict[str, object]:
        done = cli(
            *("checkpoint", "--ledger", str(folder), "--signing-key", str(keys[0]), "--json"),
            *extra,
            witness=tmp_path / "w",
        )
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    assert checkpoint("--min-new", "5")["written"] is None  # 4 entries, no checkpoint yet
    assert checkpoint("--min-new", "4")["written"] == 5
    for n in (6, 7, 8):
        ledger.append(draft(n))
    assert checkpoint("--min-new", "4")["written"] is None
    assert checkpoint("--min-new", "4", "--full")["written"] is None  # counted the same way
    written = checkpoint("--min-new", "3")
    assert (written["written"], written["signatures_checked_from"]) == (9, 5)
    refused = cli(
        *("checkpoint", "--ledger", str(folder), "--signing-key", str(keys[0]), "--min-new", "0"),
        witness=tmp_path / "w",
    )
    assert refused.returncode == 2 and "--min-new 0: give 1 or more" in refused.stderr


def forged_line(seq: int, prev: str, time: str, body_details: object) -> bytes:
    """A line someone without the key writes: a checkpoint-shaped entry with a made-up
    signature, hashed and linked correctly."""
    body = {
        "action": "checkpoint",
        "actor": "k",
        "actor_source": "x",
        "details": body_details,
        "digest": None,
        "environment": None,
        "image": None,
        "model": None,
        "prev": prev,
        "reason": None,
        "seq": seq,
        "signature": "AAAA" * 22,
        "time": time,
    }
    raw = canonical(body)
    return raw[:-1] + b',"hash":"' + hashlib.sha256(raw).hexdigest().encode() + b'"}\n'


@pytest.mark.parametrize("shape", [[["through", 1]], "through", 7, None])
def test_a_forged_checkpoint_with_malformed_details_is_reported_not_a_crash(
    tmp_path: Path, keys: Keys, shape: object
) -> None:
    folder = tmp_path / "ledger"
    signed(folder, keys, 5)
    head = read_head(folder)
    assert head is not None
    append_raw(folder, forged_line(6, head.hash, head.time, shape))
    for options in ({}, {"checkpoints": False}):
        report, _ = audit(folder, keys, **options)
        assert report.problems[0].startswith("entry 6: "), (options, report.problems)
        assert report.checkpoint is None
    done = cli("verify", "--ledger", str(folder), "--public-key", str(keys[1]), witness=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "first bad entry: 6" in done.stderr


def test_many_forged_checkpoints_cost_one_signature_check_more_than_full(
    tmp_path: Path, keys: Keys
) -> None:
    """Forged lines that each look like a checkpoint (right range, right hash) do not each cost
    a signature check: the first that fails ends the search."""
    folder = tmp_path / "ledger"
    signed(folder, keys, 5)
    head = read_head(folder)
    assert head is not None
    prev, through_hash = head.hash, head.hash
    for seq in range(6, 36):
        line = forged_line(seq, prev, head.time, details(5, through_hash, "k", 1))
        append_raw(folder, line)
        prev = read_line(line).hash
    report, calls = audit(folder, keys)
    full, full_calls = audit(folder, keys, checkpoints=False)
    assert report.problems == full.problems and report.first_bad_seq == 6
    assert calls <= full_calls + 1


def test_a_checkpoint_after_this_machine_s_audited_prefix_covers_only_what_follows_it(
    tmp_path: Path, keys: Keys
) -> None:
    """This machine's record covers entries 1-3; a checkpoint through 6 then spares entries 4-6
    only, and one through 2 (inside the record's prefix) spares nothing more."""
    from lockgate.delivery.ledger.audited import AuditRecord

    folder, records = tmp_path / "ledger", tmp_path / "records"
    ledger = signed(folder, keys, 3)
    record = AuditRecord(folder, load_checker(keys[1]).key_id, records)
    check = Counting(load_checker(keys[1]))
    assert audit_ledger(folder, check, record=record).ok
    for n in (4, 5, 6):
        ledger.append(draft(n))
    write_checkpoint(ledger, checker_of_private(keys[0]))  # entry 7, through 6
    ledger.append(draft(8))
    check.calls = 0
    report = audit_ledger(folder, check, record=record)  # type: ignore[arg-type]
    assert report.ok and report.unchanged == 3
    assert report.checkpoint is not None and report.checkpoint.through == 6
    assert check.calls == 4  # the checkpoint (found, then as a line), entry 8 and the head

    folder2 = tmp_path / "ledger2"
    ledger2 = signed(folder2, keys, 2)
    early = write_checkpoint(ledger2, checker_of_private(keys[0])).written  # entry 3, through 2
    assert early is not None
    record2 = AuditRecord(folder2, load_checker(keys[1]).key_id, records)
    assert audit_ledger(folder2, check, record=record2).ok  # the record now covers 1-3
    ledger2.append(draft(4))
    check.calls = 0
    report = audit_ledger(folder2, check, record=record2)  # type: ignore[arg-type]
    assert report.ok and report.unchanged == 3 and report.checkpoint is None
    assert check.calls == 2  # entry 4 and the head


def test_an_append_landing_while_the_audit_reads_is_not_taken_for_tampering(
    tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An honest writer commits between the audit's read of the head and its read of the file:
    the audit reads both again instead of reporting bytes 'written after the head anchor', and
    a checkpoint written meanwhile covers what it audited."""
    from lockgate.delivery.ledger import head as head_module

    folder = tmp_path / "ledger"
    ledger = signed(folder, keys, 3)
    real = head_module.read_head
    appended: list[int] = []

    def read_then_append(where: Path) -> Head | None:
        found = real(where)
        if not appended:
            appended.append(ledger.append(draft(4)).seq)
        return found

    monkeypatch.setattr(head_module, "read_head", read_then_append)
    report, _ = audit(folder, keys)
    assert report.ok and report.entries == 4, report.problems
    appended.clear()
    done = write_checkpoint(ledger, checker_of_private(keys[0]))
    assert done.report.ok and done.written is not None
    assert done.through == done.written.seq - 1


def test_in_a_project_the_spec_s_key_is_the_one_audited_with(tmp_path: Path, keys: Keys) -> None:
    """A --public-key other than policy.ledger.public_key is refused before anything is read:
    the checkpoint would otherwise be signed with a key the project's audits do not trust."""
    from tests.projects import lockgate, write_project

    spec = PROJECT.format(ledger="public_key: ledger.pub")
    root = write_project(tmp_path / "project", spec, {"ledger.pub": keys[1].read_text()})
    signed(root / ".lockgate" / "ledger", keys, 3)
    generate_key_pair(tmp_path / "x.pem", tmp_path / "x.pub")
    state = {"LOCKGATE_WITNESS_DIR": str(tmp_path / "w")}
    other = ("--signing-key", str(tmp_path / "x.pem"), "--public-key", str(tmp_path / "x.pub"))
    refused = lockgate("audit", "checkpoint", *other, cwd=root, env=state)
    assert refused.code == 2
    assert "is not the spec's policy.ledger.public_key" in refused.stderr
    wrong = lockgate(
        "audit", "checkpoint", "--signing-key", str(tmp_path / "x.pem"), cwd=root, env=state
    )
    assert wrong.code == 2
    assert "is not the private half of the key in policy.ledger.public_key" in wrong.stderr
    done = lockgate("audit", "checkpoint", "--signing-key", str(keys[0]), cwd=root, env=state)
    assert done.code == 0, done.stderr
    assert "entry 4: checkpoint" in done.stdout


def test_the_documented_scheduled_job_lints_and_its_command_parses(
    tmp_path: Path, actionlint_bin: Path
) -> None:
    """docs/ledger.md's nightly checkpoint job: actionlint accepts it as a workflow, and the
    lockgate command in it parses with lockgate's own arguments (a hosted runner cannot run
    here)."""
    import re
    import shlex

    from lockgate.commands import audit as audit_command
    from tests.projects import REPO_ROOT

    text = (REPO_ROOT / "docs" / "ledger.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "audit checkpoint" in b]
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "checkpoint.yml").write_text(block)
    done = subprocess.run(
        [str(actionlint_bin), "-no-color", str(workflows / "checkpoint.yml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = [x.strip() for x in block.splitlines() if x.strip().startswith("lockgate ")]
    words = shlex.split(line)
    assert words[:2] == ["lockgate", "audit"]
    parser = argparse.ArgumentParser()
    audit_command.add_arguments(parser)
    args = parser.parse_args(words[2:])
    assert (args.what, args.min_new) == ("checkpoint", 1000)
    assert str(args.signing_key) == "$RUNNER_TEMP/ledger.pem"


def test_a_line_nested_too_deep_for_the_parser_is_reported_not_a_crash(
    tmp_path: Path, keys: Keys
) -> None:
    """A checkpoint-shaped line whose details nest deeper than the JSON parser goes: both the
    checkpoint search and the signature check name the entry (no RecursionError escapes)."""
    folder = tmp_path / "ledger"
    signed(folder, keys, 3)
    head = read_head(folder)
    assert head is not None
    line = forged_line(4, head.hash, head.time, {"x": 0})
    nested = b"[" * 100_000 + b"{}" + b"]" * 100_000
    line = line.replace(b'{"x":0}', nested)
    body = json.loads(line.replace(nested, b"0"))  # the rest of the line, as written
    body.pop("hash")
    raw = canonical(body).replace(b'"details":0', b'"details":' + nested)
    line = raw[:-1] + b',"hash":"' + hashlib.sha256(raw).hexdigest().encode() + b'"}\n'
    with open(folder / "ledger.jsonl", "ab") as f:
        f.write(line)
    moved = Head(4, hashlib.sha256(raw).hexdigest(), head.size + len(line), head.time)
    body_head = {**moved.to_json(), "signature": head.signature}
    write_atomic(folder / "ledger.head", json.dumps(body_head, sort_keys=True).encode())
    for options in ({}, {"checkpoints": False}):
        report, _ = audit(folder, keys, **options)
        assert report.first_bad_seq == 4, (options, report.problems)


def test_a_pending_append_after_a_checkpoint_is_noted_and_the_checkpoint_still_used(
    tmp_path: Path, keys: Keys
) -> None:
    """An append interrupted after its line was written: the audit notes it as pending, checks
    its signature, and still skips the signatures the checkpoint vouches for."""
    folder = tmp_path / "ledger"
    ledger = signed(folder, keys, 4)
    write_checkpoint(ledger, checker_of_private(keys[0]))  # entry 5, through 4
    head = read_head(folder)
    assert head is not None
    line = seal(draft(6), 6, head.time, head.hash, load_signer(keys[0])).line()
    pending = {"seq": 6, "hash": read_line(line).hash, "size": head.size + len(line)}
    with open(folder / "ledger.jsonl", "ab") as f:
        f.write(line)
    signer = load_signer(keys[0])
    interrupted = Head(head.seq, head.hash, head.size, head.time, pending)
    body = {**interrupted.to_json(), "signature": signer(interrupted.anchor_payload())}
    write_atomic(folder / "ledger.head", json.dumps(body, sort_keys=True).encode())
    report, calls = audit(folder, keys)
    assert report.ok and report.entries == 5
    assert report.notes == ("entry 6 is a pending append; the next write completes it",)
    assert report.checkpoint is not None and report.checkpoint.through == 4
    assert calls <= 4  # the checkpoint twice, the pending line and the head
