"""A small world for testing the gates: a spec, a real embedded ledger, the real manifest
deployer, and a settable clock.

The image verifier here is a test double (:class:`ListVerifier`): image verification belongs to
the supply-chain module, which is not part of this package; the double passes or fails digests
as told, so the gate's reaction to each verdict can be tested. Everything else is real.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lockgate.delivery.ledger.entry import GENESIS, Draft, seal
from lockgate.delivery.ledger.identity import Identity
from lockgate.delivery.ledger.ledger import FileLedger
from lockgate.delivery.promotion.deployers import ManifestDeployer
from lockgate.delivery.promotion.promote import Promoter
from lockgate.delivery.promotion.protocols import Verdict
from lockgate.spec.loader import parse_spec

SPEC = """
version: 1
name: gates
image: {base: lockgate/debian:bookworm}
stages:
  train: {run: [python3, train.py]}
groups:
  ml-leads: [lena, omar]
environments:
  - {name: staging, health_markers: [sre]}
  - name: production
    approvers: ["@ml-leads", carol]
    health_markers: [sre]
    required_approvals: 1
    four_eyes: true
policy:
  approval_ttl: 24h
  residency:
    production:
      registries: [registry.eu.example/ml]
      allow_pii: false
"""

REPO = "registry.eu.example/ml/fraud"


def digest(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


def image(n: int, repo: str = REPO) -> str:
    return f"{repo}@{digest(n)}"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class ListVerifier:
    """Test double: fails the digests in ``failing`` with a reason, passes all others."""

    failing: set[str] = field(default_factory=set)
    facts: dict[str, dict[str, str]] = field(default_factory=dict)  # digest -> attested facts

    def verify(self, ref: str) -> Verdict:
        d = ref.partition("@")[2]
        if d in self.failing:
            return Verdict(False, ("signature: no signatures found",))
        return Verdict(True, ("signature: verified with cosign.pub",), self.facts.get(d, {}))


@dataclass
class World:
    root: Path
    clock: Clock
    ledger: FileLedger
    verifier: ListVerifier
    deployer: ManifestDeployer
    pipeline: object

    def promoter(self, actor: str = "ci-bot", registry: object = None) -> Promoter:
        return Promoter(
            pipeline=self.pipeline,
            spec_root=self.root,
            ledger=self.ledger,
            verifier=self.verifier,
            deployer_for=lambda name: self.deployer,
            registry=registry,
            actor=Identity(actor, "github"),
        )


def make_world(root: Path, spec: str = SPEC) -> World:
    pipeline = parse_spec(textwrap.dedent(spec), "lockgate.yaml")
    clock = Clock()
    ledger = FileLedger(root / ".lockgate" / "ledger", clock=clock)
    deployer = ManifestDeployer(root / ".lockgate" / "releases", {})
    return World(root, clock, ledger, ListVerifier(), deployer, pipeline)


def write_ledger(folder: Path, rows: list[tuple[Draft, str]]) -> None:
    """Write a long ledger in one go (what many appends would leave, without an fsync each)."""
    folder.mkdir(parents=True, exist_ok=True)
    prev, chunks, size = GENESIS, [], 0
    for seq, (draft, time) in enumerate(rows, start=1):
        line = seal(draft, seq, time, prev).line()
        prev = json.loads(line)["hash"]
        chunks.append(line)
        size += len(line)
    (folder / "ledger.jsonl").write_bytes(b"".join(chunks))
    head = {"seq": len(rows), "hash": prev, "size": size, "time": rows[-1][1]}
    (folder / "ledger.head").write_text(json.dumps(head))
