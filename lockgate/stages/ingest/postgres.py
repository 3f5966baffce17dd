"""PostgreSQL source: one read-only REPEATABLE READ transaction, rows streamed with ``COPY``.

Every batch of a run is read inside the same transaction, so the batches together are one
consistent snapshot. Rows travel as ``COPY (...) TO STDOUT (FORMAT csv)`` and are parsed by
Polars' native CSV reader with column types taken from the query's own result description: the
benchmark (docs/ingest.md) measured this faster than decoding binary ``COPY`` row by row in
Python. The password comes from a secret and appears in no message.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lockgate.errors import LockgateError
from lockgate.stages.ingest.config import PostgresSource

if TYPE_CHECKING:
    import polars as pl
    import psycopg

# PostgreSQL type OID -> Polars type name; anything else is read as text.
_TYPES = {
    16: "Boolean",
    20: "Int64",
    21: "Int16",
    23: "Int32",
    700: "Float32",
    701: "Float64",
    1700: "Float64",
    25: "String",
    1043: "String",
    1042: "String",
    1082: "Date",
    1114: "Datetime",
    1184: "DatetimeUTC",
}


class SourceError(LockgateError):
    """The source cannot be reached or read."""


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str
    polars_type: str


def describe(src: PostgresSource) -> str:
    """Where the data comes from, without the password."""
    what = f"table {src.table}" if src.table else "query"
    return f"postgresql://{src.user}@{src.host}:{src.port}/{src.database} ({what})"


def connect(src: PostgresSource, password: str | None) -> psycopg.Connection[Any]:
    """Open the snapshot transaction's connection, or one clear :class:`SourceError`."""
    import psycopg

    params: dict[str, Any] = {
        "host": src.host,
        "port": src.port,
        "dbname": src.database,
        "user": src.user,
        "sslmode": src.sslmode,
        "connect_timeout": src.connect_timeout,
        "application_name": "lockgate-ingest",
    }
    if password is not None:
        params["password"] = password
    if src.sslrootcert:
        params["sslrootcert"] = src.sslrootcert
    try:
        conn = psycopg.connect(**params)
    except psycopg.OperationalError as exc:
        raise SourceError(f"{describe(src)}: cannot connect: {_reason(exc, password)}") from None
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


def _reason(exc: Exception, password: str | None) -> str:
    text = " ".join(str(exc).split())
    if password:
        text = text.replace(password, "***")
    low = text.lower()
    if "password authentication failed" in low:
        return f"{text}; check the password secret named in with.source.postgres.password"
    if "server does not support ssl" in low:
        return f"{text}; the server refuses TLS: enable ssl on it or lower sslmode"
    if "certificate verify failed" in low or "does not match host name" in low:
        return f"{text}; the server's certificate is not trusted: check sslrootcert and the host"
    if "connection refused" in low or "timeout expired" in low or "could not translate" in low:
        return f"{text}; check host and port, and that the server accepts connections"
    return text


class Snapshot:
    """A read-only view of the source at one instant, read in batches past a watermark."""

    def __init__(self, src: PostgresSource, conn: psycopg.Connection[Any]) -> None:
        self.src = src
        self.conn = conn
        # every statement below is sent with parameters, so a literal % must be doubled
        query = (src.query or "").replace("%", "%%")
        self.relation = f"({query}) AS lockgate_src" if src.query else _quote(src.table or "")

    def columns(self) -> list[Column]:
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {self.relation} LIMIT 0", [])
            types = self.conn.adapters.types
            cols = []
            for d in cur.description or ():
                info = types.get(d.type_code)
                name = info.name if info else str(d.type_code)
                cols.append(Column(d.name, name, _TYPES.get(d.type_code, "String")))
        return cols

    def cutoff(self, column: str, after: Any, max_rows: int) -> Any:
        """The watermark value that closes the next batch of about ``max_rows`` rows."""
        where, args = _past(column, after)
        sql = (
            f"SELECT {_quote(column)} FROM {self.relation} {where} "
            f"ORDER BY {_quote(column)} OFFSET %s LIMIT 1"
        )
        row = self.conn.execute(sql, [*args, max_rows - 1]).fetchone()
        if row is not None:
            return row[0]
        sql = f"SELECT max({_quote(column)}) FROM {self.relation} {where}"
        last = self.conn.execute(sql, args).fetchone()
        return last[0] if last else None

    def read(
        self, columns: list[Column], watermark: str | None, after: Any, upto: Any
    ) -> pl.DataFrame:
        """Rows with ``after < watermark <= upto`` (all rows when ``watermark`` is None)."""
        import polars as pl

        frames = list(self.read_chunks(columns, watermark, after, upto, chunk_bytes=None))
        return pl.concat(frames) if len(frames) > 1 else frames[0]

    def read_chunks(
        self,
        columns: list[Column],
        watermark: str | None,
        after: Any,
        upto: Any,
        *,
        chunk_bytes: int | None,
    ) -> Iterator[pl.DataFrame]:
        """The same rows as frames of about ``chunk_bytes`` of COPY text each (one frame when
        None). libpq hands COPY data over a whole row at a time, so a chunk never splits a row
        and memory stays bounded by the chunk, whatever the table's size."""
        where, args = "", list[Any]()
        if watermark is not None:
            where, args = _past(watermark, after)
            where += (" AND " if where else "WHERE ") + f"{_quote(watermark)} <= %s"
            args.append(upto)
        select = f"SELECT * FROM {self.relation} {where}"
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY ({select}) TO STDOUT (FORMAT csv)", args) as copy,
        ):
            pending: list[bytes] = []
            size, emitted = 0, False
            for row in copy:
                pending.append(bytes(row))
                size += len(row)
                if chunk_bytes is not None and size >= chunk_bytes:
                    yield frame(b"".join(pending), columns)
                    pending, size, emitted = [], 0, True
            if pending or not emitted:
                yield frame(b"".join(pending), columns)


def _past(column: str, after: Any) -> tuple[str, list[Any]]:
    if after is None:
        return "", []
    return f"WHERE {_quote(column)} > %s", [after]


def _quote(name: str) -> str:
    """A (possibly schema-qualified) identifier, quoted."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def frame(csv: bytes, columns: list[Column]) -> pl.DataFrame:
    """Parse COPY's CSV with the source's own column types."""
    import polars as pl

    names = [c.name for c in columns]
    read_as = {
        c.name: getattr(pl, c.polars_type)
        if c.polars_type in ("Int16", "Int32", "Int64", "Float32", "Float64")
        else pl.String
        for c in columns
    }
    if not csv:
        df = pl.DataFrame(schema=read_as)
    else:
        df = pl.read_csv(csv, has_header=False, new_columns=names, schema_overrides=read_as)
    casts = []
    for c in columns:
        if c.polars_type == "Boolean":
            casts.append((pl.col(c.name) == "t").alias(c.name))
        elif c.polars_type == "Date":
            casts.append(pl.col(c.name).str.to_date("%Y-%m-%d"))
        elif c.polars_type == "Datetime":
            casts.append(pl.col(c.name).str.to_datetime(time_unit="us"))
        elif c.polars_type == "DatetimeUTC":
            casts.append(pl.col(c.name).str.to_datetime(time_unit="us", time_zone="UTC"))
    return df.with_columns(casts) if casts else df
