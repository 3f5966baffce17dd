"""Where a first signed audit's signature checks run: one core, threads, or forked processes.

    python -m benchmarks.ledger_verify [--entries 100000] [--repeat 3]

On a signed ledger of ``--entries`` lines, in this process, the signatures of the first 1,000,
10,000 and all lines are checked (what an audit does after its chain walk, spans included) three
ways, in alternating rounds after one warm-up:

- ``serial``: one core, line by line;
- ``threads``: libsodium releases the interpreter lock during a verification, so one thread per
  core checks shares of 1,000 lines in place (no copies, nothing to start but the threads);
- ``processes``: one forked worker process per core, four shares each, sending back only the
  first failure of its share (what the audit did before).

Also, on one core: libsodium called through PyNaCl's ``nacl.bindings.crypto_sign_open`` wrapper
(argument checks, the message copied out) against the binding lockgate calls, and the CPU time
of one verification. Every way must give the same answer, checked on a copy with a bad signature
in the middle. Medians and raw timings: benchmarks/results/ledger-verify.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import result_file
from benchmarks.ledger import build
from lockgate.delivery.ledger import signatures
from lockgate.delivery.ledger.entry import chain_fields
from lockgate.delivery.ledger.signatures import default_workers
from lockgate.delivery.ledger.signing import generate_key_pair, load_checker, load_signer
from lockgate.delivery.ledger.verification import KeyChecker, _libsodium_wrapped

SIZES = (1_000, 10_000, 100_000)
Found = tuple[int, str] | None


def ways(workers: int) -> dict[str, Callable[[list[bytes], list[Any], KeyChecker], Found]]:
    return {
        "serial": lambda lines, spans, check: signatures._first_bad(
            lines, spans, check, 0, len(lines)
        ),
        "threads": lambda lines, spans, check: signatures._first_bad_threaded(
            lines, spans, check, workers
        ),
        "processes": lambda lines, spans, check: signatures._first_bad_forked(
            lines, spans, check, workers
        ),
    }


def cpu_per_verify(lines: list[bytes], spans: list[Any], check: KeyChecker) -> float:
    """Microseconds of this thread's CPU per line checked on one core."""
    start = time.thread_time()
    assert signatures._first_bad(lines, spans, check, 0, len(lines)) is None
    return (time.thread_time() - start) / len(lines) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate_key_pair(root / "k.pem", root / "k.pub")
        build(root / "ledger", args.entries, load_signer(root / "k.pem"))
        lines = (root / "ledger" / "ledger.jsonl").read_bytes().split(b"\n")[:-1]
        check = load_checker(root / "k.pub")
    spans = [chain_fields(line)[4] for line in lines]
    wrapped = KeyChecker(check.public_key)  # the same checks, through PyNaCl's wrapper
    wrapped._verify = _libsodium_wrapped(check.public_key)
    workers = default_workers()
    by_way = ways(workers)
    sizes = [n for n in SIZES if n < len(lines)] + [len(lines)]
    bad = list(lines)
    middle = len(bad) // 2
    at = spans[middle][2]  # the signature's first character, changed in place
    bad[middle] = (
        bad[middle][:at]
        + (b"B" if bad[middle][at : at + 1] == b"A" else b"A")
        + bad[middle][at + 1 :]
    )
    expected = signatures._first_bad(bad, spans, check, 0, len(bad))
    assert expected is not None and expected[0] == middle
    for name, way in by_way.items():
        assert way(lines, spans, check) is None, name
        assert way(bad, spans, check) == expected, name
    sides: dict[str, Callable[[], float]] = {}
    for n in sizes:
        for name, way in by_way.items():
            sides[f"{name}_{n}"] = result_file.stopwatch(
                lambda way=way, n=n: way(lines[:n], spans[:n], check)
            )
    small = min(10_000, len(lines))
    for name, checker in (("binding", check), ("wrapper", wrapped)):
        sides[f"{name}_{small}"] = result_file.stopwatch(
            lambda checker=checker: signatures._first_bad(
                lines[:small], spans[:small], checker, 0, small
            )
        )
    load_before = result_file.load()
    raw = result_file.alternate(sides, repeat=args.repeat)
    cpu = [cpu_per_verify(lines[:small], spans[:small], check) for _ in range(args.repeat)]
    result_file.write(
        "ledger-verify",
        {
            "entries": len(lines),
            "sizes": sizes,
            "one_core_lines": small,
            "workers": workers,
            "repeat": args.repeat,
            "load_average_before": load_before,
            "load_average_after": result_file.load(),
            "cpu_us_per_verify": {"median": result_file.median(cpu), "raw": cpu},
            "seconds": {
                name: {"median": result_file.median(t), "raw": t} for name, t in raw.items()
            },
        },
        packages=("PyNaCl",),
    )
    print(json.dumps({k: round(result_file.median(v), 3) for k, v in raw.items()}))


def table(doc: dict[str, Any]) -> str:
    """The docs table of ``benchmarks/results/ledger-verify.json``."""
    from benchmarks.tables import _machine, _raw, _s

    sec, workers = doc["seconds"], doc["workers"]
    ways = (
        ("serial", "one core"),
        ("threads", f"{workers} threads"),
        ("processes", f"{workers} forked processes"),
    )
    lines = [
        "| signatures checked, in process | " + " | ".join(label for _, label in ways) + " |",
        "|---|" + "---|" * len(ways),
    ]
    for n in doc["sizes"]:
        cells = [f"{_s(sec[f'{way}_{n}']['median'])}" for way, _ in ways]
        lines.append(f"| {n:,} lines | " + " | ".join(cells) + " |")
    small, cpu = doc["one_core_lines"], doc["cpu_us_per_verify"]
    binding, wrapper = sec[f"binding_{small}"], sec[f"wrapper_{small}"]
    lines += [
        f"| {small:,} lines, one core, PyNaCl's `crypto_sign_open` wrapper | "
        f"{_s(wrapper['median'])} | | |",
        f"| {small:,} lines, one core, the binding called directly (used) | "
        f"{_s(binding['median'])} | | |",
        "",
        "Raw rounds, s: " + "; ".join(f"{name} {_raw(v['raw'])}" for name, v in sec.items()) + ".",
        "",
        f"On all {n:,} lines, against one core: threads {_ratio(sec, 'threads', n)}, "
        f"processes {_ratio(sec, 'processes', n)} of the time (medians). "
        f"One verification with its line's cut: {cpu['median']:.0f} µs of CPU on one core "
        f"(rounds: {', '.join(f'{v:.0f}' for v in cpu['raw'])}). {doc['repeat']} alternating "
        f"rounds after one warm-up. {_machine(doc)}",
    ]
    return "\n".join(lines) + "\n"


def figures(doc: dict[str, Any]) -> dict[str, str]:
    """The figures the prose of docs/benchmarks/ledger.md quotes: one verification's CPU on one
    core (``cpu_per_verify``) and what the whole ledger's verifications cost at that rate
    (``all_verifications``, the CPU seconds of ``entries`` of them)."""
    from benchmarks.tables import run_figures

    cpu = doc["cpu_us_per_verify"]["median"]
    return run_figures(doc) | {
        "cpu_per_verify": f"{cpu:.0f} µs",
        "all_verifications": f"{cpu * doc['entries'] / 1e6:.1f} s",
    }


def _ratio(sec: dict[str, Any], way: str, n: int) -> str:
    return f"{sec[f'{way}_{n}']['median'] / sec[f'serial_{n}']['median']:.2f}"


if __name__ == "__main__":
    main()
