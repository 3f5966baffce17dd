"""Batches from PostgreSQL: all read inside one REPEATABLE READ snapshot.

With a watermark column, each batch closes at the value of the ``max_rows``-th next row, and takes
every row up to and including it, so rows that share a watermark value never straddle two batches
(a batch can exceed ``max_rows`` by the ties at its end, and says so on stderr). With
``incremental.tiebreaker`` the rows are ordered by (watermark, key) and a batch closes at the
``max_rows``-th row's pair, so a batch holds exactly its rows however many share a value, and the
journal records the pair. ``max_bytes`` lowers the row count once the first batch shows how wide
rows are.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

from lockgate.stages.ingest.arrow_rows import ArrowRows
from lockgate.stages.ingest.budget import MemoryPlan
from lockgate.stages.ingest.config import IngestConfig
from lockgate.stages.ingest.journal import Journal, JournalError
from lockgate.stages.ingest.postgres import (
    Order,
    Position,
    Snapshot,
    SourceError,
    connect,
    describe,
)
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
    snap = Snapshot(src, conn, password)
    columns = snap.columns()
    snapshot = snap.export()  # in the top-level transaction: a savepoint cannot export it
    schema = tuple((c.name, c.pg_type) for c in columns)
    info = {"kind": "postgresql", "url": describe(src), "table": src.table, "query": src.query}
    order = _order(cfg, [c.name for c in columns])
    start = None if order is None else _resumed(journal, order, snap)

    max_bytes = cfg.batch.max_bytes
    if memory is not None:
        max_bytes = min(max_bytes or memory.chunk_bytes, memory.chunk_bytes)

    def batches() -> Iterator[Batch]:
        with conn.transaction():  # the transaction the columns were read in: one snapshot
            rows_conn = ArrowRows(src, password, snapshot, _relation_named(cfg))
            stack.callback(rows_conn.close)
            if order is None:
                chunk = max_bytes or FULL_READ_CHUNK
                select = snap.select(columns, None, None, None)
                for df in rows_conn.frames(select, chunk_bytes=chunk):
                    yield Batch(df, None)
                return
            after = start
            if cfg.mode == "batch" and memory is None:
                upto = snap.cutoff(order, after, 2**62)
                if upto is not None:
                    df = rows_conn.frame(snap.select(columns, order, after, upto))
                    _check_progress(src, order, after, upto, df)
                    yield _batch(df, upto)
                return
            rows = cfg.batch.max_rows
            if max_bytes is not None:
                rows = min(rows, FIRST_BATCH_PROBE)
            while True:
                upto = snap.cutoff(order, after, rows)
                if upto is None:
                    return
                df = rows_conn.frame(snap.select(columns, order, after, upto))
                _check_progress(src, order, after, upto, df)
                if df.height > rows:
                    _say_ties(df, snap.count_at(order[0], upto[0]), upto[0], rows, max_bytes)
                if max_bytes is not None and df.height:
                    width = max(1, df.estimated_size() // df.height)
                    rows = int(max(1, min(cfg.batch.max_rows, max_bytes // width)))
                yield _batch(df, upto)
                after = upto

    return info, schema, batches()


def _order(cfg: IngestConfig, names: list[str]) -> Order | None:
    """The columns a read past a watermark is ordered by, each checked against the source."""
    inc = cfg.incremental
    if inc is None:
        return None
    order = (inc.watermark, *((inc.tiebreaker,) if inc.tiebreaker else ()))
    for field, column in zip(("watermark", "tiebreaker"), order, strict=False):
        if column not in names:
            raise JournalError(
                f"with.incremental.{field}: column {column!r} is not in the source's columns "
                f"({', '.join(names)})"
            )
    return order


def _resumed(journal: Journal, order: Order, snap: Snapshot) -> Position | None:
    """Where the journal left off, in ``order``'s terms."""
    if journal.watermark is None:
        return None
    if journal.key is None:
        return (journal.watermark,)  # every row at the watermark was read
    if len(order) == 1:
        recorded = journal.read_by or ()
        if len(recorded) > 1 and not snap.has_after(
            order[0], journal.watermark, recorded[1], journal.key
        ):
            return (journal.watermark,)  # it stopped at the value's last row: nothing is left
        raise JournalError(
            f"the ingest journal stopped inside watermark value {journal.watermark!r} (at the "
            f"row whose tiebreaker is {journal.key!r}), and lockgate.yaml no longer declares "
            "incremental.tiebreaker: declare it again to read the rest of that value, or delete "
            "the stage's state folder to ingest from the beginning"
        )
    return (journal.watermark, journal.key)


def _batch(df: Any, upto: Position) -> Batch:
    return Batch(df, upto[0], upto[1] if len(upto) > 1 else None)


def _relation_named(cfg: IngestConfig) -> str:
    src = cfg.source.postgres
    assert src is not None
    return f"table {src.table}" if src.table else "the query's tables"


def _check_progress(
    src: Any, order: Order, after: Position | None, upto: Position, df: Any
) -> None:
    """A batch moves the watermark forward and holds the rows the cutoff found, or the read
    stops here: read again from the same place, it would loop forever."""
    stuck = after is not None and tuple(upto[: len(after)]) == tuple(after)
    if stuck or not df.height:
        columns = " and ".join(repr(c) for c in order)
        raise SourceError(
            f"{describe(src)}: the batch past {after!r} up to {upto!r} read no new rows, though "
            f"the source holds rows there: {columns} does not compare the same way once read "
            "back; use a watermark column of another type (an integer or a timestamp)"
        )


def _say_ties(df: Any, ties: int, value: Any, rows: int, max_bytes: int | None) -> None:
    """One line on stderr: the batch is over its bound because ``ties`` rows share a watermark
    value (counted by the server: a uuid or an interval has no Polars literal)."""
    if ties < 2:
        return
    size = df.estimated_size()
    over = (
        f"{size / 2**20:,.1f} MiB against a bound of {max_bytes / 2**20:,.1f} MiB"
        if max_bytes is not None and size > max_bytes
        else f"against a bound of {rows:,} rows"
    )
    print(
        f"ingest: a batch holds {df.height:,} rows ({over}) because {ties:,} rows share "
        f"watermark value {value!r}, and rows that share a value are never split; declare "
        "incremental.tiebreaker (a unique column) to split them",
        file=sys.stderr,
    )
