"""The row connection: rows of a PostgreSQL snapshot as Arrow, through ADBC's libpq driver.

The driver sends each statement as ``COPY (...) TO STDOUT (FORMAT binary)`` and decodes the
stream into Arrow record batches in C, so no row ever becomes a Python object. The connection
joins the snapshot the control connection exported (``SET TRANSACTION SNAPSHOT``), so the rows
it reads are the rows the batch boundaries were computed on. A statement's record batches are
about ``chunk_bytes`` each and are handed on one at a time: memory stays bounded by the chunk,
whatever the table's size.

It waits for no lock: the control connection already holds the snapshot's tables, so a lock
this connection waits for is one queued behind a schema change (an ``ALTER TABLE``) that itself
waits for the control connection, a wait PostgreSQL cannot see as a deadlock. After
``LOCK_TIMEOUT`` the read stops with one line, the transactions end, and the change proceeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from lockgate.stages.ingest.config import PostgresSource
from lockgate.stages.ingest.postgres import SESSION, SourceError, describe, parameters, reason

if TYPE_CHECKING:
    import polars as pl

DEFAULT_CHUNK = 16 * 2**20  # the driver's own default batch size
LOCK_TIMEOUT = "5s"
_LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a statement cancelled by lock_timeout
_CHUNK_OPTION = "adbc.postgresql.batch_size_hint_bytes"


class ArrowRows:
    """A read-only connection inside another connection's exported snapshot."""

    def __init__(
        self, src: PostgresSource, password: str | None, snapshot: str, relation: str = "table"
    ) -> None:
        import adbc_driver_manager
        import adbc_driver_postgresql.dbapi as adbc
        from psycopg.conninfo import make_conninfo

        self.src = src
        self.password = password
        self.relation = relation  # what a schema change waiting for this read is on
        try:
            self.conn = adbc.connect(make_conninfo(**parameters(src, password)), autocommit=True)
        except adbc_driver_manager.Error as exc:
            raise SourceError(f"{describe(src)}: cannot connect: {reason(exc, password)}") from None
        with self.conn.cursor() as cur:
            for setting in (*SESSION, f"SET lock_timeout = '{LOCK_TIMEOUT}'"):
                cur.execute(setting)
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")

    def close(self) -> None:
        self.conn.close()

    def frames(self, select: str, *, chunk_bytes: int | None = None) -> Iterator[pl.DataFrame]:
        """The statement's rows, as frames of about ``chunk_bytes`` each; at least one frame
        (empty, with the statement's columns, when it returns no row)."""
        import adbc_driver_manager
        import polars as pl
        import pyarrow as pa

        with self.conn.cursor() as cur:
            cur.adbc_statement.set_options(**{_CHUNK_OPTION: str(chunk_bytes or DEFAULT_CHUNK)})
            emitted = False
            try:
                cur.execute(select)
                reader = cur.fetch_record_batch()
                for batch in reader:  # a server error mid-stream surfaces here
                    if batch.num_rows:
                        yield _finite(self.src, _frame(pl.from_arrow(batch)))
                        emitted = True
            except (adbc_driver_manager.Error, pa.ArrowException, OSError) as exc:
                raise self._failed(exc) from None
            if not emitted:
                yield _frame(pl.from_arrow(reader.schema.empty_table()))

    def _failed(self, exc: Exception) -> SourceError:
        if getattr(exc, "sqlstate", None) == _LOCK_NOT_AVAILABLE or "lock timeout" in str(exc):
            return SourceError(
                f"{describe(self.src)}: a schema change on {self.relation} is waiting for this "
                "read; run the stage again"
            )
        return SourceError(f"{describe(self.src)}: {reason(exc, self.password)}")

    def frame(self, select: str) -> pl.DataFrame:
        """The statement's rows as one frame."""
        import polars as pl

        frames = list(self.frames(select))
        return pl.concat(frames) if len(frames) > 1 else frames[0]


# PostgreSQL's finite range, in the units Arrow receives: a value outside it is how the driver
# decodes 'infinity' or '-infinity' (a wrapped-around far past), which no Parquet reader would
# take for what it was
_DATE_DAYS = (-2_440_588, 2_145_042_906)  # 4713 BC .. 5874897 AD, days since 1970
# 4713 BC .. as far as microseconds since 1970 reach once the driver adds its 2000 epoch
_TIMESTAMP_US = (-210_866_803_200_000_000, 2**63 - 1 - 946_684_800_000_000)


def _finite(src: PostgresSource, df: pl.DataFrame) -> pl.DataFrame:
    """``df``, refused when a date or timestamp column holds 'infinity' or '-infinity'."""
    import polars as pl

    for name, dtype in df.schema.items():
        if dtype == pl.Date:
            low, high = _DATE_DAYS
        elif isinstance(dtype, pl.Datetime):
            low, high = _TIMESTAMP_US
        else:
            continue
        physical = df.get_column(name).to_physical()
        lowest, highest = physical.min(), physical.max()
        if lowest is not None and (lowest < low or highest > high):  # type: ignore[operator]  # ints
            raise SourceError(
                f"{describe(src)}: column {name!r} holds 'infinity' or '-infinity', which a "
                f"Parquet file cannot hold; read it through with.source.postgres.query as "
                f"CASE WHEN isfinite({name}) THEN {name} END (NULL in their place), or clean "
                "those rows at the source"
            )
    return df


def _frame(converted: Any) -> pl.DataFrame:
    import polars as pl

    assert isinstance(converted, pl.DataFrame)
    return converted
