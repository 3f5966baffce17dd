"""Reading a signed 100,000-entry ledger for a gate, and auditing it for the first time.

    python -m benchmarks.ledger_gate --baseline CHECKOUT [--entries 100000] [--repeat 3]

Every side runs as its own process (interpreter start included) on the same signed ledger, in
alternating rounds, this checkout against ``--baseline`` (an earlier lockgate):

- ``promote``: one promotion of a new image to staging, as ``lockgate promote`` makes it (the
  real Promoter, the real manifest deployer, the ledger opened as ``open_ledger`` opens it with
  the ledger's key; two reads of the ledger and two signed appends). The image verifier is a
  stand-in that passes every image: verifying an image is the supply chain's cost, not the
  ledger's, and needs a registry. ``promote`` runs with this machine's audit record of the ledger
  and parsed copy of the ledger (what earlier gate reads leave); ``promote_first`` with the
  record deleted first (a fresh machine: every signature checked, every line parsed, and no
  parsed copy written, as on a machine's first read).
- ``history``: ``lockgate history staging``, the status read, on a spec whose
  ``policy.ledger.public_key`` names the key.
- ``audit_full``: ``lockgate audit verify --full --public-key`` (every signature checked), with a
  state folder of its own.
- ``promote_first_checkpoint`` and ``audit_first_checkpoint``: a fresh machine (no record) again,
  on a ledger of the same size whose entry ``entries - checkpoint_tail`` is a signed checkpoint
  (``lockgate audit checkpoint``, written by the real audit and append, then followed by that
  many signed entries): the promotion, and ``audit verify --public-key`` in a fresh state folder
  each round. ``promote_first_writes_checkpoint``: the same promotion on a fresh copy of that
  ledger (copied before the clock starts), then what ``policy.ledger.checkpoint_every:
  CHECKPOINT_TAIL`` makes the command do after it: the promotion leaves more than that many
  entries after the checkpoint, so it audits the ledger and writes the next one.

Then, in this process, the full audit once through each Ed25519 backend (libsodium through PyNaCl,
OpenSSL through cryptography), alternating; and what a gate read spends turning the checked bytes
into entries, alternating: parsing every line (``parse_lines``, a read without a parsed copy),
loading this machine's parsed copy (``parse_copy``: the prefix's sha256, the copy's sha256 and
decoding it), a compact alternative measured only (``parse_compact_json``: the fields promote,
history and status read, without ``prev`` and ``signature``, as JSON rows), and writing a new
copy (``keep_copy``). Medians and raw timings: benchmarks/results/ledger-gate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SPEC = """version: 1
name: bench
image: {base: x}
stages: {a: {run: ["true"]}}
environments: [{name: staging}, {name: production}]
policy: {ledger: {public_key: ledger.pub}}
"""
REPO = "registry.example/ml/fraud"


def promote_once(root: Path, n: int, every: int = 0) -> None:
    """One promotion to staging with the lockgate on ``sys.path`` (run in a fresh process);
    with ``every``, then what ``policy.ledger.checkpoint_every`` makes the command do."""
    from datetime import UTC, datetime

    from lockgate.delivery.ledger.identity import Identity
    from lockgate.delivery.ledger.signing import load_checker, load_signer
    from lockgate.delivery.ledger.store import open_ledger
    from lockgate.delivery.promotion.deployers import ManifestDeployer
    from lockgate.delivery.promotion.promote import Promoter
    from lockgate.delivery.promotion.protocols import Verdict
    from lockgate.spec.loader import parse_spec

    class PassingVerifier:
        """Stand-in for the supply-chain verifier (needs a registry): passes every image."""

        def verify(self, ref: str) -> Verdict:
            return Verdict(True, ("signature: verified (benchmark stand-in)",))

    pipeline = parse_spec(SPEC, "lockgate.yaml")
    store = open_ledger(
        pipeline,
        root,
        clock=lambda: datetime.now(UTC),
        signer=load_signer(root / "ledger.key"),
        checker=load_checker(root / "ledger.pub"),
    )
    promoter = Promoter(
        pipeline=pipeline,
        spec_root=root,
        ledger=store,
        verifier=PassingVerifier(),
        deployer_for=lambda name: ManifestDeployer(root / ".lockgate" / "releases", {}),
        registry=None,
        actor=Identity("ci-bot", "github"),
    )
    outcome = promoter.promote("staging", f"{REPO}@sha256:{n:064x}", author="dana")
    if outcome.exit_code:
        raise SystemExit("\n".join(outcome.lines))
    if every:
        from lockgate.delivery.ledger.signatures import default_workers
        from lockgate.delivery.ledger.vouch import checkpoint_due, write_checkpoint

        if not checkpoint_due(store.folder, every):
            raise SystemExit("the benchmark's ledger was not due a checkpoint")
        check = load_checker(root / "ledger.pub")
        done = write_checkpoint(store, check, workers=default_workers(), min_new=every)
        if done.written is None:
            raise SystemExit(f"no checkpoint was written: {done.report.problems}")


def parse_sides(folder: Path, key_id: str, repeat: int) -> dict[str, list[float]]:
    """In process: the entries of the whole checked ledger from its lines, from the parsed copy,
    and from a compact encoding; and the cost of writing the copy."""
    import hashlib

    from benchmarks import result_file
    from lockgate.delivery.ledger import parsed
    from lockgate.delivery.ledger.audited import AuditRecord
    from lockgate.delivery.ledger.entry import Entry
    from lockgate.delivery.ledger.signed_read import _parse_checked

    path = folder / "ledger.jsonl"
    data = path.read_bytes()
    record = AuditRecord(folder, key_id, Path(str(folder) + "-records"))
    record.seen_before = True  # as on a machine that read the ledger before: copies are kept
    entries = _parse_checked(path, data)
    parsed.keep(record, data, entries)
    gate_fields = tuple(f for f in parsed.FIELDS if f not in ("prev", "signature"))
    compact = json.dumps(
        [[e.__dict__[f] for f in gate_fields] for e in entries], separators=(",", ":")
    ).encode()

    def from_compact() -> list[Entry]:
        hashlib.sha256(compact).hexdigest()  # a copy is checked before it is trusted
        out, new = [], object.__new__
        for row in json.loads(compact):
            entry = new(Entry)
            entry.__dict__.update(zip(gate_fields, row, strict=True), prev="", signature=None)
            out.append(entry)
        return out

    def loaded() -> list[Entry]:
        found = parsed.load(record, data, len(data))
        assert found is not None and len(found[1]) == len(entries)
        return found[1]

    sides = {
        "parse_lines": result_file.stopwatch(lambda: _parse_checked(path, data)),
        "parse_copy": result_file.stopwatch(loaded),
        "parse_compact_json": result_file.stopwatch(from_compact),
        "keep_copy": result_file.stopwatch(lambda: parsed.keep(record, data, entries)),
    }
    raw = result_file.alternate(sides, repeat=repeat, warmup=1)
    return {f"in_process_{name}": t for name, t in raw.items()}


def timed(argv: list[str], cwd: Path, code: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, *argv],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={**os.environ, **env, "PYTHONPATH": str(code)},
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=Path, required=True, help="an earlier checkout")
    parser.add_argument("--checkpoint-tail", type=int, default=1000)
    args = parser.parse_args()
    here, baseline = Path(__file__).resolve().parents[1], args.baseline.resolve()
    # imported here: ``--promote-once`` runs this file with another checkout's lockgate
    sys.path.insert(0, str(here))
    import compileall

    from benchmarks import result_file
    from benchmarks.ledger import build, vouched
    from benchmarks.result_file import revision

    for code in (here, baseline):  # both as installed: no side compiles its modules when timed
        compileall.compile_dir(str(code / "lockgate"), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        witness = Path(tmp) / "witness"
        env = {"LOCKGATE_WITNESS_DIR": str(witness)}
        os.environ.update(env)
        # each side keeps its own state folder (witness, audit record, parsed copy): an earlier
        # lockgate rewrites the audit record without naming the copy, which would cost this one
        # a full parse after every earlier round
        state = {here: env, baseline: {"LOCKGATE_WITNESS_DIR": str(Path(tmp) / "witness-earlier")}}
        from lockgate.delivery.ledger.audit import audit_ledger
        from lockgate.delivery.ledger.signatures import default_workers
        from lockgate.delivery.ledger.signing import generate_key_pair, load_checker, load_signer
        from lockgate.delivery.ledger.verification import KeyChecker

        root.mkdir()
        (root / "lockgate.yaml").write_text(SPEC)
        generate_key_pair(root / "ledger.key", root / "ledger.pub")
        folder = root / ".lockgate" / "ledger"
        build(folder, args.entries, load_signer(root / "ledger.key"))
        size = (folder / "ledger.jsonl").stat().st_size
        images = iter(range(10**9, 2 * 10**9))
        me = [str(Path(__file__).resolve()), "--promote-once", str(root)]
        public = ["--public-key", str(root / "ledger.pub")]

        first_witness = Path(tmp) / "witness-first"

        def promote(code: Path, first: bool = False) -> Callable[[], float]:
            def run() -> float:
                if not first:
                    return timed([*me, str(next(images))], root, code, state[code])
                # a state folder of its own, its record deleted: a fresh machine each time,
                # leaving the other sides' records and parsed copy as they were
                for record in (first_witness / "audited").glob("*.json"):
                    record.unlink()
                fresh = {"LOCKGATE_WITNESS_DIR": str(first_witness)}
                return timed([*me, str(next(images))], root, code, fresh)

            return run

        other = Path(tmp) / "checkpointed"
        other.mkdir()
        (other / "lockgate.yaml").write_text(SPEC)
        for name in ("ledger.pub", "ledger.key"):
            (other / name).write_bytes((root / name).read_bytes())
        tail = args.checkpoint_tail
        write_s = vouched(other / ".lockgate" / "ledger", args.entries, tail, root / "ledger.key")
        other_witness = Path(tmp) / "witness-checkpointed"
        fresh_states = iter(range(10**6))

        def promote_checkpointed() -> float:
            for record in (other_witness / "audited").glob("*.json"):
                record.unlink()
            argv = [str(Path(__file__).resolve()), "--promote-once", str(other)]
            witness_env = {"LOCKGATE_WITNESS_DIR": str(other_witness)}
            return timed([*argv, str(next(images))], other, here, witness_env)

        due = Path(tmp) / "due"

        def promote_due() -> float:
            # the checkpointed ledger copied afresh (untimed): the promotion's two entries
            # leave ``tail`` + 2 after the checkpoint, so this promotion writes the next one
            shutil.rmtree(due, ignore_errors=True)
            shutil.copytree(other, due)
            witness_env = {"LOCKGATE_WITNESS_DIR": str(Path(tmp) / f"fresh-{next(fresh_states)}")}
            argv = [str(Path(__file__).resolve()), "--promote-once", str(due)]
            return timed([*argv, str(next(images)), str(tail)], due, here, witness_env)

        def audit_checkpointed() -> float:
            fresh = {"LOCKGATE_WITNESS_DIR": str(Path(tmp) / f"fresh-{next(fresh_states)}")}
            return timed(["-m", "lockgate", "audit", "verify", *public], other, here, fresh)

        def command(code: Path, *argv: str) -> Callable[[], float]:
            return lambda: timed(["-m", "lockgate", *argv], root, code, state[code])

        def full_audit(code: Path) -> Callable[[], float]:
            # a fresh account's state folder: a --full audit trusts no record either way, and
            # this lockgate's forgets the parsed copy, which would charge the next promotion
            fresh = {"LOCKGATE_WITNESS_DIR": str(Path(tmp) / f"witness-full-{code.name}")}
            return lambda: timed(
                ["-m", "lockgate", "audit", "verify", "--full", *public], root, code, fresh
            )

        sides: dict[str, Callable[[], float]] = {
            "promote": promote(here),
            "promote_first": promote(here, first=True),
            "baseline_promote": promote(baseline),
            "history": command(here, "history", "staging"),
            "baseline_history": command(baseline, "history", "staging"),
            "audit_full": full_audit(here),
            "baseline_audit_full": full_audit(baseline),
            "promote_first_checkpoint": promote_checkpointed,
            "audit_first_checkpoint": audit_checkpointed,
            "promote_first_writes_checkpoint": promote_due,
        }
        for _ in range(2):  # untimed: the audit record, then the parsed copy later reads use
            promote(here)()
            promote(baseline)()
        load_before = result_file.load()
        raw = result_file.alternate(sides, repeat=args.repeat, warmup=0)
        from cryptography.hazmat.primitives import serialization

        public_raw = serialization.load_pem_public_key(
            (root / "ledger.pub").read_bytes()
        ).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        backends = {
            f"in_process_audit_full_{name}": result_file.stopwatch(
                lambda name=name: audit_ledger(  # type: ignore[misc]
                    folder, KeyChecker(public_raw, name), workers=default_workers()
                )
            )
            for name in ("libsodium", "openssl")
        }
        raw.update(result_file.alternate(backends, repeat=args.repeat, warmup=0))
        raw.update(parse_sides(folder, load_checker(root / "ledger.pub").key_id, args.repeat))
        assert load_checker(root / "ledger.pub").backend == "libsodium", "PyNaCl: delivery extra"
        result_file.write(
            "ledger-gate",
            {
                "entries": args.entries,
                "ledger_mb": round(size / 1e6, 1),
                "checkpoint": {
                    "seq": args.entries - tail,
                    "entries_after": tail,
                    # one run, in process: the full signed audit and the signed append
                    "write_s": round(write_s, 3),
                },
                "parsed_copy_mb": round(
                    next((witness / "audited").glob("*.parsed")).stat().st_size / 1e6, 1
                ),
                "workers": default_workers(),
                # how this lockgate shares the checks: libsodium releases the interpreter lock
                "signature_workers": "threads (OpenSSL: forked worker processes)",
                "baseline": result_file.baseline_name(baseline),
                "baseline_commit": revision(baseline),
                "repeat": args.repeat,
                "load_average_before": load_before,
                "load_average_after": result_file.load(),
                "seconds": {
                    name: {"median": result_file.median(t), "raw": t} for name, t in raw.items()
                },
            },
            packages=("cryptography", "PyNaCl"),
        )
        print(json.dumps({k: result_file.median(v) for k, v in raw.items()}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--promote-once"]:
        promote_once(Path(sys.argv[2]), int(sys.argv[3]), *map(int, sys.argv[4:5]))
    else:
        main()
