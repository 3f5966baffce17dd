"""Peak memory of the ingest stage with and without ``memory_budget``, on a PostgreSQL table
and a CSV file several times larger than the budgets.

    python benchmarks/ingest_memory.py [--rows 1000000] [--budgets 16MiB 64MiB] [--repeat 3]

A throwaway PostgreSQL cluster holds the table of ``benchmarks/ingest.py`` (``--rows`` x 20
columns); the same rows are also written to a CSV file. Each run is the stage in a fresh
interpreter (a full read to Parquet parts and a manifest); its peak resident memory is the
process's own high-water mark (``VmHWM``), its time the wall clock of the whole process,
imports included. A run that reads 10 rows gives each source's fixed footprint (the table's first
10 rows, and a CSV file of them). Runs alternate between
the variants, ``--repeat`` rounds; medians go to ``benchmarks/results/ingest-memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ingest import fill  # noqa: E402


def measure(root: Path, with_: dict[str, Any], password: str) -> dict[str, float]:
    from lockgate.stages.context import StageContext
    from tests.stages.ingest.peak import run_measured

    (root / "secrets").mkdir(parents=True, exist_ok=True)
    (root / "secrets" / "pw").write_text(password)
    ctx = StageContext(
        root / "ws", root / "in", root / "out", root / "secrets", root / "state", "m", "ingest", "",
        with_,
    )  # fmt: skip
    t = time.perf_counter()
    measured = run_measured(ctx)
    seconds = time.perf_counter() - t
    if measured.code != 0:
        raise SystemExit(measured.stderr)
    rows = json.loads((root / "out" / "metrics.json").read_text())["rows"]
    return {"peak_rss_mib": measured.peak_mib, "seconds": seconds, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--budgets", nargs="+", default=["16MiB", "64MiB"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import polars as pl
    import psycopg

    from lockgate.stages.ingest.budget import FILE_FOOTPRINT, FIXED_FOOTPRINT
    from tests.pgcluster import PASSWORD, USER, start_cluster

    load_at_start = os.getloadavg()[0]
    cluster = start_cluster()
    work = Path(tempfile.mkdtemp(prefix="ingest-memory-"))
    try:
        fill(cluster.conninfo, args.rows)
        ws = work / "ws"
        ws.mkdir()
        with psycopg.connect(cluster.conninfo) as conn, conn.cursor() as cur:
            with (
                (ws / "bench.csv").open("wb") as out,
                cur.copy("COPY bench TO STDOUT (FORMAT csv, HEADER)") as copy,
            ):
                for block in copy:
                    out.write(block)
            tiny = "CREATE TABLE tiny AS SELECT * FROM bench LIMIT 10"
            cur.execute(tiny)
            with (
                (ws / "tiny.csv").open("wb") as out,
                cur.copy("COPY tiny TO STDOUT (FORMAT csv, HEADER)") as copy,
            ):
                for block in copy:
                    out.write(block)
            conn.commit()
            size = cur.execute("SELECT pg_table_size('bench')").fetchone()
        arrow_mib = pl.read_csv(ws / "bench.csv", n_rows=10_000).estimated_size() / 10_000
        arrow_mib = arrow_mib * args.rows / 2**20
        pg = {"port": cluster.port, "user": USER, "password": "pw"}
        sources = {
            "postgres": {"postgres": {**pg, "table": "bench"}},
            "csv": {"files": {"path": "bench.csv"}},
        }
        variants: dict[str, dict[str, Any]] = {}
        for name, source in sources.items():
            variants[f"{name}/none"] = {"source": source}
            for budget in args.budgets:
                variants[f"{name}/{budget}"] = {"source": source, "memory_budget": budget}
        variants["postgres/10 rows"] = {"source": {"postgres": {**pg, "table": "tiny"}}}
        variants["csv/10 rows"] = {"source": {"files": {"path": "tiny.csv"}}}
        runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        names = list(variants)
        for r in range(args.repeat):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                root = work / "runs" / f"{r}-{name.replace('/', '-').replace(' ', '')}"
                root.mkdir(parents=True)
                (root / "ws").symlink_to(ws)
                runs[name].append(measure(root, variants[name], PASSWORD))
                print(f"  {name}: {runs[name][-1]}", file=sys.stderr)
    finally:
        cluster.stop()
    result = {
        "benchmark": "ingest-memory-budget",
        "rows": args.rows,
        "columns": 20,
        "table_mib": {
            "postgres_on_disk": int(size[0]) / 2**20 if size else None,
            "csv_file": (ws / "bench.csv").stat().st_size / 2**20,
            "in_memory_estimate": arrow_mib,
        },
        "fixed_footprint_mib": FIXED_FOOTPRINT / 2**20,
        "file_footprint_mib": FILE_FOOTPRINT / 2**20,
        "repeat": args.repeat,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg()[0],
        },
        "variants": {
            name: {
                "source": name.split("/")[0],
                "budget": variants[name].get("memory_budget"),
                "median_peak_rss_mib": statistics.median(x["peak_rss_mib"] for x in v),
                "max_peak_rss_mib": max(x["peak_rss_mib"] for x in v),
                "median_seconds": statistics.median(x["seconds"] for x in v),
                "rows": v[0]["rows"],
            }
            for name, v in runs.items()
        },
        "runs": runs,
    }
    target = REPO / "benchmarks" / "results" / "ingest-memory.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["variants"], indent=2))
    for path in sorted(work.rglob("*"), reverse=True):
        path.unlink() if path.is_file() or path.is_symlink() else path.rmdir()
    work.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
