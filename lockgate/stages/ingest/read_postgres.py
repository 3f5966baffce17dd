"""Batches from PostgreSQL: all read inside one REPEATABLE READ snapshot.

With a watermark column, each batch closes at the value of the ``max_rows``-th next row, and takes
every row up to and including it, so rows that share a watermark value never straddle two batches
(a batch can exceed ``max_rows`` by the ties at its end). ``max_bytes`` lowers the row count once
the first batch shows how wide rows are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

from lockgate.stages.ingest.arrow_rows import ArrowRows
from lockgate.stages.ingest.budget import MemoryPlan
from lockgate.stages.ingest.config import IngestConfig
from lockgate.stages.ingest.journal import Journal
from lockgate.stages.ingest.postgres import Snapshot, connect, describe
from lockgate.stages.ingest.run import Batch, Schema

FIRST_BATCH_PROBE = 1000
FULL_READ_CHUNK = 64 * 2**20  # bytes of Arrow data per frame of a full read: bounds its memory


def postgres_batches(
    cfg: IngestConfig,
    secret: Callable[[str], str],
    journal: Journal,
    stack: ExitStack,
    memory: MemoryPlan | None = None,
) -> tuple[dict[str, Any], Schema, Iterator[Batch]]:
    """The source's schema and its batches; the connection closes when ``stack`` does. Under
    a ``memory`` plan no batch is larger than its chunk: a full read takes record batches of
    that size, a read past a watermark micro-batches of that many bytes' worth of rows (a
    batch-mode one too, committed batch by batch)."""
    src = cfg.source.postgres
    assert src is not None
    password = secret(src.password) if src.password else None
    conn = connect(src, password)
    stack.callback(conn.close)
    snap = Snapshot(src, conn)
    columns = snap.columns()
    snapshot = snap.export()  # in the top-level transaction: a savepoint cannot export it
    schema = tuple((c.name, c.pg_type) for c in columns)
    info = {"kind": "postgresql", "url": describe(src), "table": src.table, "query": src.query}
    column = cfg.incremental.watermark if cfg.incremental else None
    if column is not None and column not in {c.name for c in columns}:
        from lockgate.stages.ingest.journal import JournalError

        raise JournalError(
            f"with.incremental.watermark: column {column!r} is not in the source's columns "
            f"({', '.join(c.name for c in columns)})"
        )

    max_bytes = cfg.batch.max_bytes
    if memory is not None:
        max_bytes = min(max_bytes or memory.chunk_bytes, memory.chunk_bytes)

    def batches() -> Iterator[Batch]:
        with conn.transaction():  # the transaction the columns were read in: one snapshot
            rows_conn = ArrowRows(src, password, snapshot)
            stack.callback(rows_conn.close)
            if column is None:
                chunk = max_bytes or FULL_READ_CHUNK
                select = snap.select(columns, None, None, None)
                for df in rows_conn.frames(select, chunk_bytes=chunk):
                    yield Batch(df, None)
                return
            after = journal.watermark
            if cfg.mode == "batch" and memory is None:
                upto = snap.cutoff(column, after, 2**62)
                if upto is not None:
                    yield Batch(rows_conn.frame(snap.select(columns, column, after, upto)), upto)
                return
            rows = cfg.batch.max_rows
            if max_bytes is not None:
                rows = min(rows, FIRST_BATCH_PROBE)
            while True:
                upto = snap.cutoff(column, after, rows)
                if upto is None:
                    return
                df = rows_conn.frame(snap.select(columns, column, after, upto))
                if max_bytes is not None and df.height:
                    width = max(1, df.estimated_size() // df.height)
                    rows = int(max(1, min(cfg.batch.max_rows, max_bytes // width)))
                yield Batch(df, upto)
                after = upto

    return info, schema, batches()
