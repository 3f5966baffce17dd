"""Can a join under ``memory_budget`` stream its reference table instead of holding it?

    python benchmarks/ingest_join_spill.py [--rows 6000000] [--repeat 3]

A budgeted ingest joins each chunk (here 20,000 rows, about 2 MiB: a 16 MiB budget's chunk) with
a reference table, which it holds whole, so a table over half the budget is refused. The
alternative measured here is Polars' streaming engine joining the chunk with a lazy scan of the
reference file, re-read for each chunk. Each variant runs in a fresh interpreter that reports its
own peak resident memory (``VmHWM``) and the seconds the join took; a 1,000-row reference gives
the footprint of the interpreter, Polars and the engine. The reference is a Parquet file written
with several row-group sizes, and the same rows as CSV. Runs alternate, ``--repeat`` rounds;
medians go to ``benchmarks/results/ingest-join-spill.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHUNK_ROWS = 20_000

_CHILD = """
import sys, time, polars as pl
mode, ref, chunk = sys.argv[1], sys.argv[2], pl.read_parquet(sys.argv[3])
scan = pl.scan_csv(ref) if ref.endswith(".csv") else pl.scan_parquet(ref)
t = time.perf_counter()
if mode == "held":
    out = chunk.join(scan.collect(), on="k", how="left")
else:
    out = chunk.lazy().join(scan, on="k", how="left").collect(engine="streaming")
seconds = time.perf_counter() - t
hwm = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(out.height, int(hwm) / 1024, seconds)
"""


def measure(mode: str, ref: Path, chunk: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(ref), str(chunk)],
        capture_output=True,
        text=True,
        check=True,
    )
    rows, peak, seconds = done.stdout.split()
    assert int(rows) == CHUNK_ROWS
    return {"peak_rss_mib": float(peak), "seconds": float(seconds)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=6_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import polars as pl
    import pyarrow.parquet as pq

    load_at_start = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="join-spill-"))
    n = args.rows
    table = pl.DataFrame({"k": range(n), "label": [f"{i:040d}" for i in range(n)]})
    in_memory = table.estimated_size() / 2**20
    chunk = work / "chunk.parquet"
    keys = [i * 37 % n for i in range(CHUNK_ROWS)]
    pl.DataFrame({"k": keys, "s": [f"{i:080d}" for i in range(CHUNK_ROWS)]}).write_parquet(chunk)
    refs: dict[str, Path] = {}
    groups: dict[str, float] = {}
    for rg in (20_000, 100_000, 500_000, n):
        path = work / f"ref-{rg}.parquet"
        table.write_parquet(path, row_group_size=rg)
        meta = pq.ParquetFile(path).metadata
        name = f"parquet, row groups of {rg:,} rows"
        refs[name] = path
        groups[name] = max(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups))
    refs["csv"] = work / "ref.csv"
    table.write_csv(refs["csv"])
    refs["footprint: a 1,000-row reference"] = work / "tiny.parquet"
    table.head(1000).write_parquet(refs["footprint: a 1,000-row reference"])
    del table

    variants = [(name, "streaming") for name in refs]
    variants.append(("parquet, row groups of 100,000 rows", "held"))
    runs: dict[str, list[dict[str, float]]] = {f"{r} / {m}": [] for r, m in variants}
    for r in range(args.repeat):
        for ref, mode in variants[r % len(variants) :] + variants[: r % len(variants)]:
            runs[f"{ref} / {mode}"].append(measure(mode, refs[ref], chunk))
            print(f"  {ref} / {mode}: {runs[f'{ref} / {mode}'][-1]}", file=sys.stderr)

    result: dict[str, Any] = {
        "benchmark": "ingest-join-spill",
        "reference_rows": n,
        "reference_in_memory_mib": in_memory,
        "chunk_rows": CHUNK_ROWS,
        "repeat": args.repeat,
        "polars": pl.__version__,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg()[0],
        },
        "variants": {
            f"{ref} / {mode}": {
                "reference": ref,
                "join": mode,
                "largest_row_group_mib": groups[ref] / 2**20 if ref in groups else None,
                "median_peak_rss_mib": statistics.median(
                    x["peak_rss_mib"] for x in runs[f"{ref} / {mode}"]
                ),
                "median_seconds": statistics.median(x["seconds"] for x in runs[f"{ref} / {mode}"]),
            }
            for ref, mode in variants
        },
        "runs": runs,
    }
    target = REPO / "benchmarks" / "results" / "ingest-join-spill.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["variants"], indent=2))
    for path in work.iterdir():
        path.unlink()
    work.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
