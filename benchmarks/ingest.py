"""PostgreSQL -> Parquet, side by side in one run: text ``COPY ... TO STDOUT`` piped straight
into Polars (the practical limit of the text path), the Arrow-native drivers on their own (ADBC's
PostgreSQL driver, which lockgate reads through, and connectorx), what users write
(``pandas.read_sql`` through SQLAlchemy), binary ``COPY`` decoded row by row by psycopg, and the
ingest stage itself.

    python benchmarks/ingest.py [--rows 1000000] [--repeat 3] [--skip METHOD ...] [--result NAME]

A throwaway PostgreSQL cluster (Debian's ``postgresql``) is started on a loopback port and holds
one table of ``--rows`` x 20 columns (8 bigint, 6 double, 4 text, 1 timestamp, 1 boolean). Every
method runs in its own child process (so peak RSS is its own), in rotating order, ``--repeat``
times; the clock runs inside the child, after the libraries (lockgate's among them) are
imported, around the read and the Parquet write. Every Polars write uses the codec lockgate
writes by default (zstd at ``ZSTD_LEVEL``); pandas writes with its own default (snappy). The
medians go to ``benchmarks/results/ingest.json``. Dependencies:
``pip install -r requirements/bench-ingest.txt``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.result_file import machine, versions  # noqa: E402  (after the path is set)
from lockgate.stages.ingest.config import ZSTD_LEVEL  # noqa: E402

METHODS = (
    "copy_polars",
    "adbc_polars",
    "connectorx_polars",
    "lockgate",
    "copy_binary_rows",
    "pandas_read_sql",
)
COLUMNS = (
    [f"i{k} bigint" for k in range(8)]
    + [f"f{k} double precision" for k in range(6)]
    + [f"s{k} text" for k in range(4)]
    + ["at timestamp", "flag boolean"]
)


def fill(conninfo: str, rows: int) -> None:
    import psycopg

    exprs = [f"g * {k + 1}" for k in range(8)] + [f"g * {k + 1}.25" for k in range(6)]
    exprs += [f"md5((g + {k})::text)" for k in range(4)]
    exprs += ["timestamp '2024-01-01' + g * interval '1 second'", "g % 2 = 0"]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE bench ({', '.join(COLUMNS)})")
        conn.execute(
            f"INSERT INTO bench SELECT {', '.join(exprs)} FROM generate_series(1, {rows}) g"
        )
        conn.execute("VACUUM ANALYZE bench")


def uri(conninfo: str) -> str:
    """The benchmark cluster's key=value conninfo as a ``postgresql://`` URI."""
    kv = dict(part.split("=", 1) for part in conninfo.split())
    return f"postgresql://{kv['user']}:{kv['password']}@{kv['host']}:{kv['port']}/{kv['dbname']}"


def run_method(method: str, conninfo: str, port: int, out: Path) -> None:
    """One measured run, in this (child) process."""
    import polars as pl
    import psycopg

    if method == "copy_polars":
        with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
            buf = io.BytesIO()
            with cur.copy("COPY bench TO STDOUT (FORMAT csv)") as copy:
                for chunk in copy:
                    buf.write(chunk)
        names = [c.split()[0] for c in COLUMNS]
        pl.read_csv(buf.getvalue(), has_header=False, new_columns=names).write_parquet(
            out / "copy.parquet", compression="zstd", compression_level=ZSTD_LEVEL
        )
    elif method == "adbc_polars":
        import adbc_driver_postgresql.dbapi as adbc

        with adbc.connect(uri(conninfo)) as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM bench")
            table = cur.fetch_arrow_table()
        pl.from_arrow(table).write_parquet(
            out / "adbc.parquet", compression="zstd", compression_level=ZSTD_LEVEL
        )
    elif method == "connectorx_polars":
        import connectorx

        frame = connectorx.read_sql(uri(conninfo), "SELECT * FROM bench", return_type="polars")
        frame.write_parquet(
            out / "connectorx.parquet", compression="zstd", compression_level=ZSTD_LEVEL
        )
    elif method == "copy_binary_rows":
        types = ["int8"] * 8 + ["float8"] * 6 + ["text"] * 4 + ["timestamp", "bool"]
        with (
            psycopg.connect(conninfo) as conn,
            conn.cursor() as cur,
            cur.copy("COPY bench TO STDOUT (FORMAT binary)") as copy,
        ):
            copy.set_types(types)
            rows = list(copy.rows())
        names = [c.split()[0] for c in COLUMNS]
        pl.DataFrame(rows, schema=names, orient="row").write_parquet(
            out / "binary.parquet", compression="zstd", compression_level=ZSTD_LEVEL
        )
    elif method == "pandas_read_sql":
        import pandas as pd
        import sqlalchemy

        engine = sqlalchemy.create_engine(
            "postgresql+psycopg://", creator=lambda: psycopg.connect(conninfo)
        )
        with engine.connect() as conn:
            pd.read_sql("SELECT * FROM bench", conn).to_parquet(out / "pandas.parquet")
    else:
        from lockgate.stages.context import StageContext
        from lockgate.stages.ingest import main
        from tests.pgcluster import PASSWORD, USER

        (out / "secrets").mkdir()
        (out / "secrets" / "pw").write_text(PASSWORD)
        with_ = {
            "source": {"postgres": {"port": port, "user": USER, "password": "pw", "table": "bench"}}
        }
        ctx = StageContext(
            out, out / "in", out / "out", out / "secrets", out / "state", "b", "ingest", "", with_
        )
        assert main(ctx) == 0


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def server_cpu(folder: Path) -> float:
    """CPU seconds the cluster's exited backends used: the postmaster's children's times
    (``cutime + cstime`` in ``/proc/PID/stat``), which grow as each backend is reaped."""
    pid = (folder / "data" / "postmaster.pid").read_text().split()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def child(method: str, conninfo: str, port: int, folder: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        argv = [
            sys.executable,
            __file__,
            "--child",
            method,
            "--conninfo",
            conninfo,
            "--port",
            str(port),
            "--out",
            tmp,
        ]
        before = server_cpu(folder)
        done = subprocess.run(argv, check=True, capture_output=True, text=True)
        time.sleep(0.5)  # the backends exit and are reaped just after the client disconnects
        measured: dict[str, float] = json.loads(done.stdout)
        measured["server_cpu_seconds"] = server_cpu(folder) - before
        return measured


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], choices=METHODS)
    parser.add_argument("--child")
    parser.add_argument("--conninfo")
    parser.add_argument("--port", type=int)
    parser.add_argument("--out")
    parser.add_argument(
        "--result", default="ingest", help="result file name under benchmarks/results/ (no .json)"
    )
    args = parser.parse_args()
    if args.child:
        import adbc_driver_postgresql.dbapi  # noqa: F401  (every import happens before the clock)
        import connectorx  # noqa: F401
        import pandas  # noqa: F401
        import polars  # noqa: F401
        import psycopg  # noqa: F401
        import sqlalchemy  # noqa: F401

        import lockgate.stages.ingest.read_postgres
        import lockgate.stages.ingest.run  # noqa: F401

        t, cpu = time.perf_counter(), _cpu(resource.getrusage(resource.RUSAGE_SELF))
        run_method(args.child, args.conninfo, args.port, Path(args.out))
        seconds = time.perf_counter() - t
        usage = resource.getrusage(resource.RUSAGE_SELF)
        measured = {
            "seconds": seconds,
            "peak_rss_mib": usage.ru_maxrss / 1024,
            "client_cpu_seconds": _cpu(usage) - cpu,
        }
        print(json.dumps(measured))
        return 0

    from tests.pgcluster import start_cluster

    load_at_start = os.getloadavg()[0]
    cluster = start_cluster()
    try:
        t = time.perf_counter()
        fill(cluster.conninfo, args.rows)
        print(
            f"table: {args.rows} rows x 20 columns in {time.perf_counter() - t:.1f}s",
            file=sys.stderr,
        )
        methods = [m for m in METHODS if m not in args.skip]
        runs: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
        for r in range(args.repeat):
            order = methods[r % len(methods) :] + methods[: r % len(methods)]
            for m in order:
                runs[m].append(child(m, cluster.conninfo, cluster.port, cluster.folder))
                print(f"  {m}: {runs[m][-1]}", file=sys.stderr)
    finally:
        cluster.stop()
    med = {m: statistics.median(x["seconds"] for x in v) for m, v in runs.items()}
    result = {
        "benchmark": "postgresql-to-parquet",
        "rows": args.rows,
        "columns": 20,
        "repeat": args.repeat,
        "machine": {
            **machine(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg()[0],
        },
        "versions": versions(
            "adbc-driver-postgresql",
            "connectorx",
            "pandas",
            "polars",
            "psycopg",
            "pyarrow",
            "SQLAlchemy",
        ),
        "zstd_level": ZSTD_LEVEL,
        "median_seconds": med,
        "peak_rss_mib": {m: max(x["peak_rss_mib"] for x in v) for m, v in runs.items()},
        "rows_per_second": {m: args.rows / s for m, s in med.items()},
        "median_cpu_seconds": {
            m: {
                side: statistics.median(x[f"{side}_cpu_seconds"] for x in v)
                for side in ("client", "server")
            }
            for m, v in runs.items()
        },
        "runs": runs,
        "skipped": sorted(args.skip),
        "command": " ".join(["python benchmarks/ingest.py", *sys.argv[1:]]),
    }
    if "lockgate" in med:
        result["ratios"] = {
            f"lockgate_vs_{m}": med[m] / med["lockgate"] for m in med if m != "lockgate"
        }
    target = REPO / "benchmarks" / "results" / f"{args.result}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    shown = {k: result.get(k) for k in ("median_seconds", "peak_rss_mib", "ratios")}
    print(json.dumps(shown, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
