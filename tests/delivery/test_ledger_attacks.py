"""Attacks by someone who can write the ledger files but does not hold the ledger's signing key:
each is performed on a real signed ledger, then the gate (the real promoter and manifest
deployer; the image verifier is gatekit's test double) and ``lockgate audit verify`` must refuse
and say why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lockgate.delivery.ledger.audit import audit_ledger
from lockgate.delivery.ledger.entry import Draft, seal
from lockgate.delivery.ledger.identity import Identity
from lockgate.delivery.ledger.ledger import FileLedger, LedgerError, read_head
from lockgate.delivery.ledger.signing import generate_key_pair, load_checker, load_signer
from lockgate.delivery.ledger.witness import RolledBack, Witness
from lockgate.delivery.promotion.approve import approve, revoke
from lockgate.delivery.promotion.health import record_health
from tests.delivery.gatekit import SPEC, World, digest, image, make_world


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    generate_key_pair(tmp_path / "ledger.pem", tmp_path / "ledger.pub")
    return tmp_path / "ledger.pem", tmp_path / "ledger.pub"


def signed_world(root: Path, keys: tuple[Path, Path], witness: Path | None = None) -> World:
    world = make_world(root)
    world.ledger = FileLedger(
        world.ledger.folder,
        clock=world.clock,
        signer=load_signer(keys[0]),
        checker=load_checker(keys[1]),
        witness=Witness(world.ledger.folder, witness) if witness else None,
    )
    return world


def staged_healthy(world: World, n: int = 1) -> None:
    out = world.promoter().promote("staging", image(n), author="dana")
    assert out.status == "promoted", out.lines
    world.ledger.append(
        Draft(
            "healthy",
            "sre",
            "github",
            environment="staging",
            digest=digest(n),
            image=image(n),
            details={"check": "deployer"},
        )
    )


def forge_pending_approval(folder: Path, who: str = "carol") -> None:
    """Append an unsigned approval and name it ``pending`` in the (signed) head, keeping the
    head's old signature: what the attacker can do without the key."""
    head = read_head(folder)
    assert head is not None and head.signature
    entry = seal(
        Draft("approve", who, "ssh-key", "production", digest(1), details={"expires": "2999"}),
        head.seq + 1,
        head.time,
        head.hash,
    )
    line = entry.line()
    with open(folder / "ledger.jsonl", "ab") as f:
        f.write(line)
    raw = json.loads((folder / "ledger.head").read_text())
    raw["pending"] = {"seq": entry.seq, "hash": entry.hash, "size": head.size + len(line)}
    (folder / "ledger.head").write_text(json.dumps(raw))


def audit_cli(folder: Path, public: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "lockgate",
            "audit",
            "verify",
            "--ledger",
            str(folder),
            "--public-key",
            str(public),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_forged_unsigned_pending_approval_is_never_completed_or_counted(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    world = signed_world(tmp_path, keys)
    staged_healthy(world)
    folder = world.ledger.folder
    before = read_head(folder)
    forge_pending_approval(folder)

    audit = audit_cli(folder, keys[1])
    assert audit.returncode == 1
    assert "a pending append that is not signed with the given key" in audit.stderr

    with pytest.raises(LedgerError, match="head anchor's signature does not verify"):
        world.promoter().promote("production", image(1), author="dana")
    # nothing was completed on the way out: the head still ends where lockgate left it
    after = read_head(folder)
    assert after is not None and before is not None
    assert (after.seq, after.hash, after.size) == (before.seq, before.hash, before.size)
    _, committed = FileLedger(folder).committed_bytes()
    assert b'"action":"approve"' not in committed
    # and an unkeyed reader does not complete it either: the head says the ledger is signed
    with pytest.raises(LedgerError, match=r"pending entry 4 \(approve by carol\) is unsigned"):
        FileLedger(folder).entries()


def test_an_unsigned_pending_line_stays_out_even_under_a_re_signed_head(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    """Had the head been re-signed (an insider with the key, a bug), the pending line itself
    must still carry a good signature before it is completed."""
    world = signed_world(tmp_path, keys)
    staged_healthy(world)
    folder = world.ledger.folder
    forge_pending_approval(folder)
    head = read_head(folder)
    assert head is not None
    raw = head.to_json()
    raw["signature"] = load_signer(keys[0])(head.anchor_payload())
    (folder / "ledger.head").write_text(json.dumps(raw))

    with pytest.raises(LedgerError, match=r"pending entry 4 \(approve by carol\) is unsigned"):
        world.promoter().promote("production", image(1), author="dana")
    _, committed = FileLedger(folder).committed_bytes()
    assert b'"action":"approve"' not in committed


def test_a_writer_without_the_key_cannot_add_to_a_signed_ledger(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    world = signed_world(tmp_path, keys)
    staged_healthy(world)
    unsigned = FileLedger(world.ledger.folder)  # no key configured at all: the head says signed
    with pytest.raises(LedgerError, match="nothing unsigned may enter it"):
        unsigned.append(Draft("approve", "carol", "github", "production", digest(1)))
    assert audit_ledger(world.ledger.folder, load_checker(keys[1])).ok


def test_the_gate_checks_entry_signatures_whenever_a_key_is_configured(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    world = make_world(tmp_path)  # written without a key: every entry is unsigned
    world.promoter().promote("staging", image(1), author="dana")
    world.ledger.append(Draft("approve", "carol", "github", "production", digest(1)))
    head = read_head(world.ledger.folder)
    assert head is not None
    signed = {**head.to_json(), "signature": load_signer(keys[0])(head.anchor_payload())}
    (world.ledger.folder / "ledger.head").write_text(json.dumps(signed))  # only the head signed
    gate = FileLedger(world.ledger.folder, checker=load_checker(keys[1]))
    with pytest.raises(LedgerError, match=r"entry 1 \(begin by ci-bot\) is not signed"):
        gate.entries()


def test_a_legitimate_interrupted_append_is_seen_by_the_decision_it_precedes(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    """A signed approval whose append was cut short before the head moved is completed before
    the gate reads, so the decision and its record see the same ledger."""
    world = signed_world(tmp_path, keys)
    staged_healthy(world)
    folder = world.ledger.folder
    head = read_head(folder)
    assert head is not None
    rules = world.promoter().rules("production")
    approve(world.ledger, rules, Identity("carol", "github"), digest(1))
    complete = (folder / "ledger.head").read_bytes()
    entry = world.ledger.entries()[-1]
    # put back the head as step 1 of the append left it: the entry named as pending
    pending = type(head)(head.seq, head.hash, head.size, head.time)
    pending = type(head)(
        **{
            **pending.__dict__,
            "pending": {"seq": entry.seq, "hash": entry.hash, "size": json.loads(complete)["size"]},
        }
    )
    signed = pending.to_json()
    signed["signature"] = load_signer(keys[0])(pending.anchor_payload())
    (folder / "ledger.head").write_text(json.dumps(signed))

    out = world.promoter().promote("production", image(1), author="dana")
    assert out.status == "promoted", out.lines
    assert audit_ledger(folder, load_checker(keys[1])).ok


def test_a_replayed_old_head_brings_nothing_back(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    """Keep an old signed head, let a revoke be written, cut the ledger back and restore the
    head: the files verify on their own, but the gate has seen a newer head and refuses."""
    world = signed_world(tmp_path, keys, witness=tmp_path / "witness")
    staged_healthy(world)
    folder = world.ledger.folder
    rules = world.promoter().rules("production")
    approve(world.ledger, rules, Identity("carol", "github"), digest(1))
    old_head = (folder / "ledger.head").read_bytes()
    old_size = json.loads(old_head)["size"]
    revoke(world.ledger, rules, Identity("carol", "github"), digest(1))
    assert world.promoter().promote("production", image(1), author="dana").status == "refused"
    seen = read_head(folder)
    assert seen is not None

    with open(folder / "ledger.jsonl", "r+b") as f:
        f.truncate(old_size)
    (folder / "ledger.head").write_bytes(old_head)
    assert audit_ledger(folder, load_checker(keys[1])).ok  # the files alone cannot tell

    with pytest.raises(RolledBack, match=f"but this machine has seen entry {seen.seq}"):
        world.promoter().promote("production", image(1), author="dana")
    assert (folder / "ledger.head").read_bytes() == old_head  # nothing written past it

    # a head of the same length that forks from the one seen is refused the same way
    with pytest.raises(RolledBack, match="not the one this machine has seen"):
        Witness(folder, tmp_path / "witness").check(seen.seq, "f" * 64)


def test_a_later_author_claim_cannot_replace_the_recorded_author(tmp_path: Path) -> None:
    """The approver approves before any author is on record, has the change promoted to
    staging naming themself as its author, then to production naming someone else: the
    production promotion is refused for the mismatch, and the refusal is in the ledger."""
    world = make_world(tmp_path)
    rules = world.promoter().rules("production")
    assert approve(world.ledger, rules, Identity("carol", "github"), digest(1)).status == "approved"
    out = world.promoter().promote("staging", image(1), author="carol")
    assert out.status == "promoted", out.lines
    first = next(e.seq for e in world.ledger.entries() if e.action == "begin")
    world.ledger.append(
        Draft("healthy", "sre", "github", "staging", digest(1), details={"check": "deployer"})
    )

    out = world.promoter().promote("production", image(1), author="eve")
    assert out.status == "refused"
    expected = (
        "--author eve does not match the change's author, carol (recorded by the first "
        f"promotion of this digest, entry {first})"
    )
    assert any(expected in line for line in out.lines), out.lines
    refused = world.ledger.entries()[-1]
    assert refused.action == "refuse" and expected in (refused.reason or "")
    assert refused.details["author"] == "carol" and refused.details["claimed_author"] == "eve"

    # without the claim, the carried author stands, and carol's own approval does not count
    out = world.promoter().promote("production", image(1))
    assert out.status == "refused"
    assert any("carol authored this change" in line for line in out.lines), out.lines
    assert not [
        e for e in world.ledger.entries() if e.action == "promote" and e.environment == "production"
    ]


def test_a_health_mark_needs_the_role_and_counts_as_manual(tmp_path: Path) -> None:
    """Anyone could once mark staging healthy, and that alone opened production's "ran healthy
    in the previous environment" gate. Now a mark by someone off the list is refused and
    recorded; a listed person's mark counts and the gate says it was a manual one."""
    world = make_world(tmp_path)  # staging: health_markers [sre]
    assert world.promoter().promote("staging", image(1), author="dana").status == "promoted"
    staging = world.promoter().rules("staging")

    out = record_health(
        world.ledger, world.deployer, staging, Identity("mallory", "github"), mark="healthy"
    )
    assert out.status == "refused" and out.exit_code == 1
    why = "mallory (github) may not mark staging's health by hand (health_markers: sre)"
    assert out.lines == (why,)
    refused = world.ledger.entries()[-1]
    assert (refused.action, refused.reason, refused.details["op"]) == ("refuse", why, "health")
    approve(
        world.ledger, world.promoter().rules("production"), Identity("lena", "github"), digest(1)
    )
    out = world.promoter().promote("production", image(1))
    assert out.status == "refused"
    assert any("has not run healthy in staging" in line for line in out.lines), out.lines

    marked = record_health(
        world.ledger, world.deployer, staging, Identity("sre", "github"), mark="healthy"
    )
    assert marked.status == "healthy"
    out = world.promoter().promote("production", image(1))
    assert out.status == "promoted", out.lines
    manual = f"ran healthy in staging: marked healthy by hand by sre (entry {marked.seqs[0]})"
    assert manual in out.lines
    begin = next(
        e for e in world.ledger.entries() if e.action == "begin" and e.environment == "production"
    )
    assert begin.details["health"] == manual


def test_by_default_the_approvers_and_emergency_list_may_mark_health(tmp_path: Path) -> None:
    spec = SPEC.replace("    health_markers: [sre]\n", "    emergency: [sre-lead]\n")
    rules = make_world(tmp_path, spec).promoter().rules("production")
    assert rules.health_markers_listed == ("@ml-leads", "carol", "sre-lead")
    assert rules.health_markers == {"lena", "omar", "carol", "sre-lead"}
