"""Where the client's CPU goes when PostgreSQL rows become Parquet: the read (ADBC's binary
``COPY`` decoded into Arrow, or ``pandas.read_sql``) apart from the Parquet write (Polars with
each codec, or ``pandas.to_parquet``). CPU seconds of this process, which the machine's load does
not change; the wall seconds are printed beside them.

    python benchmarks/ingest_split.py [--rows 1000000] [--repeat 2]

Same table as benchmarks/ingest.py; the medians go to ``benchmarks/results/ingest-cpu-split.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ingest import fill, uri  # noqa: E402  (after the path is set)
from benchmarks.result_file import machine, versions  # noqa: E402

# (name in the result, Polars codec, level): zstd at Polars' default level (3) and at 1.
CODECS = (
    ("zstd", "zstd", None),
    ("zstd_level1", "zstd", 1),
    ("lz4", "lz4", None),
    ("snappy", "snappy", None),
    ("uncompressed", "uncompressed", None),
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    import adbc_driver_postgresql.dbapi as adbc
    import pandas as pd
    import polars as pl
    import psycopg
    import sqlalchemy

    from tests.pgcluster import start_cluster

    load_at_start = os.getloadavg()[0]
    runs: dict[str, list[dict[str, float]]] = {}

    def clock(name: str, step: Callable[[], Any]) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        result = step()
        run = {"cpu_seconds": time.process_time() - cpu, "seconds": time.perf_counter() - wall}
        if isinstance(result, io.BytesIO):  # a write: how large its file came out
            run["bytes"] = result.getbuffer().nbytes
        runs.setdefault(name, []).append(run)
        return result

    def written(write: Callable[[io.BytesIO], Any]) -> io.BytesIO:
        buf = io.BytesIO()
        write(buf)
        return buf

    cluster = start_cluster()
    try:
        fill(cluster.conninfo, args.rows)
        engine = sqlalchemy.create_engine(
            "postgresql+psycopg://", creator=lambda: psycopg.connect(cluster.conninfo)
        )

        def adbc_read() -> Any:
            with adbc.connect(uri(cluster.conninfo)) as conn, conn.cursor() as cur:
                cur.execute("SELECT * FROM bench")
                return pl.from_arrow(cur.fetch_arrow_table())

        def pandas_read() -> Any:
            with engine.connect() as conn:
                return pd.read_sql("SELECT * FROM bench", conn)

        for _ in range(args.repeat):
            frame = clock("adbc_read", adbc_read)
            for name, codec, level in CODECS:
                clock(
                    f"polars_write_{name}",
                    lambda c=codec, lv=level, f=frame: written(
                        lambda buf: f.write_parquet(buf, compression=c, compression_level=lv)
                    ),
                )
            table = clock("pandas_read_sql", pandas_read)
            clock("pandas_to_parquet_snappy", lambda t=table: written(t.to_parquet))
            print(json.dumps({k: v[-1] for k, v in runs.items()}), file=sys.stderr)
    finally:
        cluster.stop()
    result = {
        "benchmark": "postgresql-to-parquet-client-cpu-split",
        "rows": args.rows,
        "columns": 20,
        "repeat": args.repeat,
        "machine": {
            **machine(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg()[0],
        },
        "versions": versions(
            "adbc-driver-postgresql", "pandas", "polars", "psycopg", "pyarrow", "SQLAlchemy"
        ),
        "median_cpu_seconds": {
            k: statistics.median(x["cpu_seconds"] for x in v) for k, v in runs.items()
        },
        "median_seconds": {k: statistics.median(x["seconds"] for x in v) for k, v in runs.items()},
        "bytes": {k: v[-1]["bytes"] for k, v in runs.items() if "bytes" in v[-1]},
        "runs": runs,
    }
    target = REPO / "benchmarks" / "results" / "ingest-cpu-split.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["median_cpu_seconds"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
