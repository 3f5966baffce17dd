"""The row connection: rows of a PostgreSQL snapshot as Arrow, through ADBC's libpq driver.

The driver sends each statement as ``COPY (...) TO STDOUT (FORMAT binary)`` and decodes the
stream into Arrow record batches in C, so no row ever becomes a Python object. The connection
joins the snapshot the control connection exported (``SET TRANSACTION SNAPSHOT``), so the rows
it reads are the rows the batch boundaries were computed on. A statement's record batches are
about ``chunk_bytes`` each and are handed on one at a time: memory stays bounded by the chunk,
whatever the table's size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from lockgate.stages.ingest.config import PostgresSource
from lockgate.stages.ingest.postgres import SourceError, describe, parameters, reason

if TYPE_CHECKING:
    import polars as pl

DEFAULT_CHUNK = 16 * 2**20  # the driver's own default batch size
_CHUNK_OPTION = "adbc.postgresql.batch_size_hint_bytes"


class ArrowRows:
    """A read-only connection inside another connection's exported snapshot."""

    def __init__(self, src: PostgresSource, password: str | None, snapshot: str) -> None:
        import adbc_driver_manager
        import adbc_driver_postgresql.dbapi as adbc
        from psycopg.conninfo import make_conninfo

        self.src = src
        self.password = password
        try:
            self.conn = adbc.connect(make_conninfo(**parameters(src, password)), autocommit=True)
        except adbc_driver_manager.Error as exc:
            raise SourceError(f"{describe(src)}: cannot connect: {reason(exc, password)}") from None
        with self.conn.cursor() as cur:
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
                        yield _frame(pl.from_arrow(batch))
                        emitted = True
            except (adbc_driver_manager.Error, pa.ArrowException, OSError) as exc:
                raise SourceError(f"{describe(self.src)}: {reason(exc, self.password)}") from None
            if not emitted:
                yield _frame(pl.from_arrow(reader.schema.empty_table()))

    def frame(self, select: str) -> pl.DataFrame:
        """The statement's rows as one frame."""
        import polars as pl

        frames = list(self.frames(select))
        return pl.concat(frames) if len(frames) > 1 else frames[0]


def _frame(converted: Any) -> pl.DataFrame:
    import polars as pl

    assert isinstance(converted, pl.DataFrame)
    return converted
