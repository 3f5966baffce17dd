"""Ledger performance on a 100,000-entry ledger: ``audit verify`` and ``history --at``.

    python -m benchmarks.ledger [--entries 100000] [--repeat 5] [--baseline CHECKOUT]

Compared with what one would write without lockgate's line format and checkpoint index: an
audit that parses, re-serialises and re-hashes each entry, and a history query that reads the
whole ledger (in process, in alternating rounds after one warm-up, like the commands).
``audit verify`` is also measured as the command a user runs (a fresh process,
spec read included), on an unsigned ledger and on a signed one with ``--public-key`` (every
entry's Ed25519 signature and the head's checked): with ``--full`` (every entry checked, as on
the first audit of a ledger on a machine), and again without it (the prefix this machine audited
before is unchanged, so only the head and what came after are checked); the signed full audit's
CPU seconds are recorded too. A machine that never audited the ledger, with a signed checkpoint
``--checkpoint-tail`` entries before the end (``lockgate audit checkpoint``, written here by the
real audit and append, then followed by that many signed entries): ``audit verify --public-key``
with a fresh state folder each round, against the ``--full`` row on a ledger of the same size.
``--baseline`` also runs the signed full audit with the lockgate in another checkout (an earlier
revision) in the same rounds. The command rows run in alternating rounds after one warm-up.
Medians and raw timings: benchmarks/results/ledger-command.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import result_file
from lockgate.delivery.ledger.audit import audit_ledger
from lockgate.delivery.ledger.entry import GENESIS, Draft, format_time, seal
from lockgate.delivery.ledger.ledger import FileLedger, Head
from lockgate.delivery.ledger.signatures import default_workers
from lockgate.delivery.ledger.signing import (
    checker_of_private,
    generate_key_pair,
    load_checker,
    load_signer,
)
from lockgate.delivery.ledger.timeline import INDEX_FILE, release_at
from lockgate.delivery.ledger.vouch import write_checkpoint

ENVS = ("staging", "production")


def draft_at(seq: int) -> Draft:
    """The benchmark's entry at ``seq``: approve, begin, promote, healthy, in turn."""
    n = seq // 4
    return Draft(
        action=("approve", "begin", "promote", "healthy")[seq % 4],
        actor=f"user{seq % 13}",
        actor_source="github",
        environment=ENVS[n % 2],
        digest=f"sha256:{n:064x}",
        image=f"registry.example/ml/fraud@sha256:{n:064x}",
        model=f"models:/fraud/{n}",
        reason="benchmark",
        details={"expires": "2027-01-01T00:00:00.000000Z"},
    )


def build(folder: Path, count: int, sign: Any = None) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    prev, size, times = GENESIS, 0, []
    with open(folder / "ledger.jsonl", "wb") as f:
        for seq in range(1, count + 1):
            draft = draft_at(seq)
            when = format_time(start + timedelta(seconds=30 * seq))
            times.append(when)
            line = seal(draft, seq, when, prev, sign).line()
            prev = hashlib.sha256(line[: line.rfind(b',"hash":"')] + b"}").hexdigest()
            f.write(line)
            size += len(line)
    head = Head(seq=count, hash=prev, size=size, time=times[-1])
    if sign is not None:
        head = Head(**{**head.__dict__, "signature": sign(head.anchor_payload())})
    (folder / "ledger.head").write_text(json.dumps(head.to_json()))
    return times


def vouched(folder: Path, count: int, tail: int, key: Path) -> float:
    """A signed ledger of ``count`` entries whose entry ``count - tail`` is a checkpoint written
    as ``lockgate audit checkpoint`` writes it (the real audit and the real signed append); the
    ``tail`` entries after it appended by the real writer. Returns the checkpoint's seconds."""
    build(folder, count - tail - 1, load_signer(key))
    check = checker_of_private(key)
    ledger = FileLedger(folder, signer=load_signer(key), checker=check)
    start = time.perf_counter()
    done = write_checkpoint(ledger, check, workers=default_workers())
    took = time.perf_counter() - start
    assert done.written is not None and done.written.seq == count - tail, done.report
    for seq in range(count - tail + 1, count + 1):
        ledger.append(draft_at(seq))
    return took


def naive_audit(folder: Path) -> bool:
    prev = GENESIS
    for raw in (folder / "ledger.jsonl").read_bytes().splitlines():
        body = json.loads(raw)
        claimed = body.pop("hash")
        data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if body["prev"] != prev or hashlib.sha256(data.encode()).hexdigest() != claimed:
            return False
        prev = claimed
    return True


def naive_history(folder: Path, env: str, at: str) -> str | None:
    found = None
    for raw in (folder / "ledger.jsonl").read_bytes().splitlines():
        body = json.loads(raw)
        if body["time"] > at:
            break
        if body["environment"] == env and body["action"] in ("promote", "rollback"):
            found = body["digest"]
    return found


def cli(
    args: list[str],
    cwd: Path,
    code: Path | None = None,
    cpu: list[float] | None = None,
    env: dict[str, str] | None = None,
) -> float:
    """Seconds for one ``lockgate`` process (this checkout's, or the one in ``code``); its CPU
    seconds (user and system, all its threads and children) are appended to ``cpu``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "lockgate", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={
            **os.environ,
            **(env or {}),
            "PYTHONPATH": str(code or Path(__file__).resolve().parents[1]),
        },
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="a checkout of another lockgate revision")
    parser.add_argument("--checkpoint-tail", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # what each audit records of the ledgers stays in this run's folder
        os.environ["LOCKGATE_WITNESS_DIR"] = str(root / "witness")
        (root / "lockgate.yaml").write_text(
            'version: 1\nname: bench\nimage: {base: x}\nstages: {a: {run: ["true"]}}\n'
            "environments: [{name: staging}, {name: production}]\n"
        )
        folder = root / ".lockgate" / "ledger"
        times = build(folder, args.entries)
        size = (folder / "ledger.jsonl").stat().st_size
        at = times[len(times) * 2 // 3]
        report = audit_ledger(folder)
        assert report.ok and report.entries == args.entries, report.problems
        assert release_at(folder, "production", at)[0]["digest"] == naive_history(
            folder, "production", at
        )

        def cold_query() -> None:
            (folder / INDEX_FILE).unlink(missing_ok=True)
            release_at(folder, "production", at)

        in_process = result_file.alternate(
            {
                "audit": result_file.stopwatch(lambda: audit_ledger(folder)),
                "naive_audit": result_file.stopwatch(lambda: naive_audit(folder)),
                "history_at_cold": result_file.stopwatch(cold_query),
                "history_at_warm": result_file.stopwatch(
                    lambda: release_at(folder, "production", at)
                ),
                "naive_history": result_file.stopwatch(
                    lambda: naive_history(folder, "production", at)
                ),
            },
            repeat=args.repeat,
        )
        signed = root / "signed"
        (signed / "lockgate.yaml").parent.mkdir()
        (signed / "lockgate.yaml").write_text((root / "lockgate.yaml").read_text())
        generate_key_pair(root / "ledger.key", root / "ledger.pub")
        build(signed / ".lockgate" / "ledger", args.entries, load_signer(root / "ledger.key"))
        public = ["--public-key", str(root / "ledger.pub")]
        assert audit_ledger(signed / ".lockgate" / "ledger").ok
        checked = root / "checkpointed"
        (checked / "lockgate.yaml").parent.mkdir()
        (checked / "lockgate.yaml").write_text((root / "lockgate.yaml").read_text())
        tail = args.checkpoint_tail
        write_s = vouched(checked / ".lockgate" / "ledger", args.entries, tail, root / "ledger.key")
        fresh_states = iter(range(10**6))

        def first_audit_with_checkpoint() -> float:
            # a fresh state folder each time: no audit record, as on a fresh CI runner
            state = {"LOCKGATE_WITNESS_DIR": str(root / f"fresh-{next(fresh_states)}")}
            found = cpu["audit_verify_signed_checkpoint"]
            return cli(["audit", "verify", *public], checked, cpu=found, env=state)

        cpu: dict[str, list[float]] = {
            "audit_verify_signed_full": [],
            "audit_verify_signed_checkpoint": [],
        }
        commands: dict[str, Callable[[], float]] = {
            "audit_verify_full": lambda: cli(["audit", "verify", "--full"], root),
            "audit_verify": lambda: cli(["audit", "verify"], root),
            "audit_verify_signed_full": lambda: cli(
                ["audit", "verify", "--full", *public], signed, cpu=cpu["audit_verify_signed_full"]
            ),
            "audit_verify_signed": lambda: cli(["audit", "verify", *public], signed),
            "audit_verify_signed_checkpoint": first_audit_with_checkpoint,
            "history_at": lambda: cli(["history", "production", "--at", at], root),
            "history_at_ledger_dir": lambda: cli(
                ["history", "production", "--at", at, "--ledger", str(folder)], root
            ),
            "help": lambda: cli(["--help"], root),
        }
        if args.baseline:
            baseline = args.baseline.resolve()
            cpu["baseline_audit_verify_signed_full"] = []
            commands["baseline_audit_verify_signed_full"] = lambda: cli(
                ["audit", "verify", "--full", *public],
                signed,
                baseline,
                cpu["baseline_audit_verify_signed_full"],
            )
        load_before = result_file.load()
        raw = result_file.alternate(commands, repeat=args.repeat)
        result_file.write(
            "ledger-command",
            {
                "entries": args.entries,
                "workers": default_workers(),
                "signature_workers": "threads"
                if load_checker(root / "ledger.pub").releases_gil
                else "worker processes",
                "baseline": result_file.baseline_name(args.baseline) if args.baseline else None,
                "baseline_commit": result_file.revision(args.baseline) if args.baseline else None,
                "ledger_mb": round(size / 1e6, 1),
                "checkpoint": {
                    "seq": args.entries - tail,
                    "entries_after": tail,
                    # one run, in process: the full signed audit and the signed append
                    "write_s": round(write_s, 3),
                },
                "repeat": args.repeat,
                "load_average_before": load_before,
                "load_average_after": result_file.load(),
                "in_process_s": {
                    name: {"median": result_file.median(t), "raw": t}
                    for name, t in in_process.items()
                },
                "command_s": {
                    name: {"median": result_file.median(t), "raw": t} for name, t in raw.items()
                },
                # CPU seconds of the command processes (all their threads): the work, whatever
                # else the machine ran meanwhile
                "command_cpu_s": {
                    name: {"median": result_file.median(t), "raw": t}
                    for name, t in ((n, v[-args.repeat :]) for n, v in cpu.items())  # no warm-up
                },
            },
            packages=("cryptography", "PyNaCl"),
        )
        print(json.dumps({k: result_file.median(v) for k, v in raw.items()}))


if __name__ == "__main__":
    main()
