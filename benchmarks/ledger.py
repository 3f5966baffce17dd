"""Ledger performance on a 100,000-entry ledger: ``audit verify`` and ``history --at``.

    python benchmarks/ledger.py [--entries 100000]

Compared with what one would write without lockgate's line format and checkpoint index: an
audit that parses, re-serialises and re-hashes each entry, and a history query that reads the
whole ledger. Results go to docs/benchmarks/ledger.md by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lockgate.delivery.audit import audit_ledger
from lockgate.delivery.entry import GENESIS, Draft, format_time, seal
from lockgate.delivery.timeline import INDEX_FILE, release_at

ENVS = ("staging", "production")


def build(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    prev, size, times = GENESIS, 0, []
    with open(folder / "ledger.jsonl", "wb") as f:
        for seq in range(1, count + 1):
            action = ("approve", "begin", "promote", "healthy")[seq % 4]
            n = seq // 4
            draft = Draft(
                action=action,
                actor=f"user{seq % 13}",
                actor_source="github",
                environment=ENVS[n % 2],
                digest=f"sha256:{n:064x}",
                image=f"registry.example/ml/fraud@sha256:{n:064x}",
                model=f"models:/fraud/{n}",
                reason="benchmark",
                details={"expires": "2027-01-01T00:00:00.000000Z"},
            )
            when = format_time(start + timedelta(seconds=30 * seq))
            times.append(when)
            line = seal(draft, seq, when, prev).line()
            prev = hashlib.sha256(line[: line.rfind(b',"hash":"')] + b"}").hexdigest()
            f.write(line)
            size += len(line)
    head = {"seq": count, "hash": prev, "size": size, "time": times[-1]}
    (folder / "ledger.head").write_text(json.dumps(head))
    return times


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


def best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def cli(args: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "lockgate", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
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
        audit = best(lambda: audit_ledger(folder))
        naive = best(lambda: naive_audit(folder), 3)
        cold = []
        for _ in range(3):
            (folder / INDEX_FILE).unlink(missing_ok=True)
            t = time.perf_counter()
            release_at(folder, "production", at)
            cold.append(time.perf_counter() - t)
        warm = best(lambda: release_at(folder, "production", at))
        scan = best(lambda: naive_history(folder, "production", at), 3)
        assert release_at(folder, "production", at)[0]["digest"] == naive_history(
            folder, "production", at
        )
        cli_audit = min(cli(["audit", "verify"], root) for _ in range(3))
        cli_hist = min(cli(["history", "production", "--at", at], root) for _ in range(3))
        cli_hist_dir = min(
            cli(["history", "production", "--at", at, "--ledger", str(folder)], root)
            for _ in range(3)
        )
        cli_help = min(cli(["--help"], root) for _ in range(3))
        print(
            f"entries {args.entries}, ledger {size / 1e6:.1f} MB, index "
            f"{(folder / INDEX_FILE).stat().st_size / 1e3:.0f} kB"
        )
        print(
            f"audit verify (in process)     {audit:.3f} s   naive re-serialising audit "
            f"{naive:.3f} s   ratio {naive / audit:.1f}x"
        )
        print(
            f"history --at warm (index)     {warm * 1000:.1f} ms  cold (builds index) "
            f"{min(cold):.3f} s   full scan {scan:.3f} s   ratio {scan / warm:.0f}x"
        )
        print(
            f"CLI wall: audit verify {cli_audit:.3f} s, history --at {cli_hist:.3f} s, "
            f"history --at --ledger DIR {cli_hist_dir:.3f} s, lockgate --help {cli_help:.3f} s"
        )


if __name__ == "__main__":
    main()
