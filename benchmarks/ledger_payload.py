"""What a signed audit spends besides Ed25519: walking the chain and cutting each signed payload.

    python -m benchmarks.ledger_payload [--entries 100000] [--repeat 5]

On a signed ledger of ``--entries`` lines, in this process, in alternating rounds after one
warm-up, with no signature verified (a check that accepts everything), on one core:

- ``walk_then_match``: the chain walk's fields of every line, then each signed payload cut by
  matching the line's canonical tail a second time (what the audit did before);
- ``walk_with_spans``: the chain walk's fields and, from the same match, where each signature
  sits; each payload then cut at that place (what the audit does now).

Both produce the same payloads (checked). Medians and raw timings:
benchmarks/results/ledger-payload.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import result_file
from benchmarks.ledger import build
from lockgate.delivery.ledger.entry import chain_fields, cut_signed, read_chain, signed_parts
from lockgate.delivery.ledger.signing import generate_key_pair, load_signer


def walk_then_match(lines: list[bytes]) -> list[tuple[bytes, str] | None]:
    for line in lines:
        read_chain(line)
    return [signed_parts(line) for line in lines]


def walk_with_spans(lines: list[bytes]) -> list[tuple[bytes, str] | None]:
    spans = [chain_fields(line)[4] for line in lines]
    return [
        cut_signed(line, span) if span else None for line, span in zip(lines, spans, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate_key_pair(root / "k.pem", root / "k.pub")
        build(root / "ledger", args.entries, load_signer(root / "k.pem"))
        lines = (root / "ledger" / "ledger.jsonl").read_bytes().split(b"\n")[:-1]
    assert walk_then_match(lines) == walk_with_spans(lines)
    load_before = result_file.load()
    raw = result_file.alternate(
        {
            "walk_then_match": result_file.stopwatch(lambda: walk_then_match(lines)),
            "walk_with_spans": result_file.stopwatch(lambda: walk_with_spans(lines)),
        },
        repeat=args.repeat,
    )
    result_file.write(
        "ledger-payload",
        {
            "entries": args.entries,
            "repeat": args.repeat,
            "load_average_before": load_before,
            "load_average_after": result_file.load(),
            "seconds": {
                name: {"median": result_file.median(t), "raw": t} for name, t in raw.items()
            },
        },
    )
    print(json.dumps({k: result_file.median(v) for k, v in raw.items()}))


if __name__ == "__main__":
    main()
