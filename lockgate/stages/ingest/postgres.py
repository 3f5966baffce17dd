"""PostgreSQL source: one read-only REPEATABLE READ snapshot, rows streamed as Arrow.

Two connections share one snapshot. The control connection (psycopg) opens the transaction,
reads the column list and the batch boundaries, and exports the snapshot; the row connection
(:mod:`lockgate.stages.ingest.arrow_rows`, ADBC's libpq driver) joins that snapshot and receives
the rows as binary ``COPY`` decoded straight into Arrow, with no Python object per row. The
benchmark (docs/ingest.md) measured this against psycopg's text and binary ``COPY`` and
connectorx. The password comes from a secret and appears in no message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lockgate.errors import LockgateError
from lockgate.stages.ingest.config import PostgresSource

if TYPE_CHECKING:
    import psycopg

# PostgreSQL type OID -> Polars type name; anything else is read as text.
# The row connection decodes each of these natively; numeric is sent as double precision.
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


Order = tuple[str, ...]  # the watermark column, then the tiebreaker's when there is one
Position = tuple[Any, ...]  # a row's values of those columns: where a batch ends


class SourceError(LockgateError):
    """The source cannot be reached or read."""


_CASTS = {1700: "double precision"}

# Order columns whose bounds are sent cast to the column's own type: psycopg reads a real back
# as the shortest double that prints the same (0.3), and a real compared with a double is
# compared as double precision (0.30000001192... > 0.3), so the row at a bound would fall out.
_BOUND_CASTS = {700: "real"}

# Types whose 'infinity' and '-infinity' have no place in the order, like NULL.
_DATETIMES = {1082, 1114, 1184}

# The session both connections read in: the same time zone and the same text forms, so a
# statement (a view on ts::date, a query on ts::text) means the same on either connection.
SESSION = (
    "SET TIME ZONE 'UTC'",
    "SET DateStyle = 'ISO, MDY'",
    "SET IntervalStyle = 'postgres'",
)

# A semicolon closing a query, and any line comments after it: a habit from psql, harmless.
_TRAILER = re.compile(r";\s*(--[^\n]*\s*)*\Z")


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str
    polars_type: str
    cast: str | None = None  # sent as this type: numeric as double, unknown types as text

    @property
    def expression(self) -> str:
        """How the bulk read selects the column."""
        quoted = _ident(self.name)
        return f"{quoted}::{self.cast} AS {quoted}" if self.cast else quoted


def describe(src: PostgresSource) -> str:
    """Where the data comes from, without the password."""
    what = f"table {src.table}" if src.table else "query"
    return f"postgresql://{src.user}@{src.host}:{src.port}/{src.database} ({what})"


def parameters(src: PostgresSource, password: str | None) -> dict[str, Any]:
    """libpq's connection keywords, the same for both connections."""
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
    return params


def connect(src: PostgresSource, password: str | None) -> psycopg.Connection[Any]:
    """Open the snapshot transaction's connection, or one clear :class:`SourceError`."""
    import psycopg

    try:
        conn = psycopg.connect(**parameters(src, password))
    except psycopg.OperationalError as exc:
        raise SourceError(f"{describe(src)}: cannot connect: {reason(exc, password)}") from None
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    for setting in SESSION:
        conn.execute(setting)
    return conn


def reason(exc: Exception, password: str | None) -> str:
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
    """A read-only view of the source at one instant, read in batches past a watermark.

    Rows whose watermark (or tiebreaker) is NULL have no place in the order and are never read
    by a read past a watermark; a full read takes every row."""

    def __init__(
        self, src: PostgresSource, conn: psycopg.Connection[Any], password: str | None = None
    ) -> None:
        self.src = src
        self.conn = conn
        self.password = password
        query = _TRAILER.sub("", (src.query or "").strip()).rstrip()
        # the bulk read takes no parameters and sends the relation as written (a newline
        # before the parenthesis, which a query's last line comment would otherwise hide) ...
        table = _relation(src.table or "")
        self.raw_relation = f"({query}\n) AS lockgate_src" if src.query else table
        self.types: dict[str, int] = {}  # each column's type OID, once columns() read them
        # ... every other statement is sent with parameters, so a literal % must be doubled
        self.relation = _params(self.raw_relation)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """A statement the server refuses (no such table, a syntax error, a type it cannot
        order) as one :class:`SourceError`."""
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            raise SourceError(f"{describe(self.src)}: {reason(exc, self.password)}") from None

    def columns(self) -> list[Column]:
        with self._reading(), self.conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {self.relation} LIMIT 0", [])
            types = self.conn.adapters.types
            cols = []
            for d in cur.description or ():
                info = types.get(d.type_code)
                name = info.name if info else str(d.type_code)
                cast = _CASTS.get(d.type_code, None if d.type_code in _TYPES else "text")
                self.types[d.name] = d.type_code
                cols.append(Column(d.name, name, _TYPES.get(d.type_code, "String"), cast))
        return cols

    def cutoff(self, order: Order, after: Position | None, max_rows: int) -> Position | None:
        """The position (watermark, and tiebreaker key when ``order`` names one) that closes
        the next batch of about ``max_rows`` rows past ``after``; None when none is left."""
        where, args = self._past(order, after)
        listed = _params(", ".join(_ident(c) for c in order))
        sql = f"SELECT {listed} FROM {self.relation} {where} ORDER BY {listed} OFFSET %s LIMIT 1"
        with self._reading():
            row = self.conn.execute(sql, [*args, max_rows - 1]).fetchone()
            if row is not None:
                return tuple(row)
            descending = _params(", ".join(f"{_ident(c)} DESC" for c in order))
            sql = f"SELECT {listed} FROM {self.relation} {where} ORDER BY {descending} LIMIT 1"
            row = self.conn.execute(sql, args).fetchone()
        return None if row is None else tuple(row)

    def has_after(self, column: str, value: Any, key_column: str, key: Any) -> bool:
        """Whether a row shares watermark ``value`` with a ``key_column`` past ``key``."""
        sql = (
            f"SELECT 1 FROM {self.relation} WHERE {_params(_ident(column))} = "
            f"{self._mark(column)} AND {_params(_ident(key_column))} > {self._mark(key_column)} "
            "LIMIT 1"
        )
        with self._reading():
            return self.conn.execute(sql, [value, key]).fetchone() is not None

    def select(
        self,
        columns: list[Column],
        order: Order | None,
        after: Position | None,
        upto: Position | None,
    ) -> str:
        """The statement for rows with ``after < (watermark[, key]) <= upto`` (all rows when
        ``order`` is None), bounds as literals: a bulk read takes no parameters."""
        listed = ", ".join(c.expression for c in columns)
        sql = f"SELECT {listed} FROM {self.raw_relation}"
        if order is None or upto is None:
            return sql
        bounds = [self._placed(c) for c in order]  # no place in the order: unread
        if after is not None:
            bounds.append(f"{_row(order[: len(after)])} > {self._row_literal(order, after)}")
        bounds.append(f"{_row(order)} <= {self._row_literal(order, upto)}")
        return f"{sql} WHERE {' AND '.join(bounds)}"

    def export(self) -> str:
        """The snapshot's id, for a second connection to read in it (``SET TRANSACTION
        SNAPSHOT``); valid while this connection's transaction stays open."""
        with self._reading():
            row = self.conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        return str(row[0])

    def count_at(self, column: str, value: Any) -> int:
        """How many rows hold ``value`` in ``column``."""
        sql = f"SELECT count(*) FROM {self.relation} WHERE {_params(_ident(column))} = "
        with self._reading():
            row = self.conn.execute(sql + self._mark(column), [value]).fetchone()
        return 0 if row is None else int(row[0])

    def _mark(self, column: str) -> str:
        """A parameter holding a value of ``column``, compared in the column's own type."""
        cast = _BOUND_CASTS.get(self.types.get(column, 0))
        return f"CAST(%s AS {cast})" if cast else "%s"

    def _placed(self, column: str) -> str:
        """Whether a row has a place in the order by ``column``: not NULL, and for a date or a
        timestamp not 'infinity' or '-infinity' either (rows a read past a watermark skips)."""
        if self.types.get(column) in _DATETIMES:
            return f"isfinite({_ident(column)})"
        return f"{_ident(column)} IS NOT NULL"

    def _past(self, order: Order, after: Position | None) -> tuple[str, list[Any]]:
        """Rows past ``after``, compared in ``order``, as a WHERE clause for a statement sent
        with parameters; an ``after`` shorter than ``order`` (a watermark recorded before a
        tiebreaker was declared) compares the watermark alone. A NULL (or an infinite date)
        in any column of ``order`` puts a row nowhere in the order: it is never read."""
        bounds = [_params(self._placed(c)) for c in order]
        if after is None:
            return f"WHERE {' AND '.join(bounds)}", []
        marks = ", ".join(self._mark(c) for c in order[: len(after)])
        row = _params(_row(order[: len(after)]))
        bounds.append(f"{row} > {marks if len(after) == 1 else f'({marks})'}")
        return f"WHERE {' AND '.join(bounds)}", list(after)

    def _row_literal(self, order: Order, values: Position) -> str:
        from psycopg import sql

        literals = []
        for column, value in zip(order, values, strict=False):
            literal = sql.Literal(value).as_string(self.conn)
            cast = _BOUND_CASTS.get(self.types.get(column, 0))
            literals.append(f"CAST({literal} AS {cast})" if cast else literal)
        return literals[0] if len(literals) == 1 else f"({', '.join(literals)})"


def _row(order: Order) -> str:
    quoted = [_ident(c) for c in order]
    return quoted[0] if len(quoted) == 1 else f"({', '.join(quoted)})"


def _ident(name: str) -> str:
    """One identifier (a column's name may hold dots), quoted."""
    return '"' + name.replace('"', '""') + '"'


def _relation(name: str) -> str:
    """A table's name, schema-qualified when it holds a dot, quoted."""
    return ".".join(_ident(part) for part in name.split("."))


def _params(text: str) -> str:
    """``text`` inside a statement sent with parameters, where a literal % is written %%."""
    return text.replace("%", "%%")
