"""Read one file in chunks of bounded size, for a run under ``memory_budget``.

Polars' own scans read ahead of their consumer (a CSV scan holds the whole file, a streaming
collection buffers batches nobody has asked for yet), so a budgeted run reads the bytes itself:

- **Parquet**: consecutive row slices of Polars' lazy scan, each of about ``chunk_bytes`` (the
  row width measured on the first 1,000 rows); Polars reads only the row groups and pages a
  slice covers. A Parquet file that is not local (an fsspec URL) is read through pyarrow, one
  record batch at a time;
- **CSV** and **JSON lines**: blocks of about ``chunk_bytes`` bytes, cut at a line end (in CSV,
  at a line end outside quotes: a quoted field may hold a newline), each parsed by Polars with
  the column types the whole-file scan infers, so a chunked read gives the same frame as an
  unchunked one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING

from lockgate.stages.ingest.postgres import SourceError

if TYPE_CHECKING:
    import polars as pl

Opener = Callable[[], IO[bytes]]
Reader = Callable[[Opener, "pl.Schema", int], Iterator["pl.DataFrame"]]
PROBE_ROWS = 1000
INFER_ROWS = 100  # the rows Polars' CSV and JSON-lines readers infer column types from


def file_chunks(
    fmt: str,
    source: str | Opener,
    label: str,
    schema: pl.Schema,
    chunk_bytes: int,
    hive: dict[str, str],
) -> Iterator[pl.DataFrame]:
    """The file's rows, as frames of about ``chunk_bytes`` each (Parquet: about, from the
    width of its first rows), with the ``hive`` columns added."""
    import polars as pl

    own = pl.Schema({k: v for k, v in schema.items() if k not in hive})
    readers: dict[str, Reader] = {"parquet": _parquet, "csv": _csv, "jsonl": _jsonl}
    opener = source if not isinstance(source, str) else _opener(source)
    if isinstance(source, str):
        readers["parquet"] = _slices(source)
    read = readers[fmt]
    try:
        for df in read(opener, own, chunk_bytes):
            if hive:
                df = df.with_columns(pl.lit(v).alias(k) for k, v in hive.items())
            yield df.select(list(schema))
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        if isinstance(exc, OSError) and not isinstance(source, str):
            raise  # an object store's failure: the caller words it without a credential
        raise SourceError(f"cannot read {label}: {str(exc).splitlines()[0]}") from None


def head_columns(fmt: str, opener: Opener) -> pl.Schema:
    """A file's columns from as little of it as tells them: a Parquet footer, or the header
    and first :data:`INFER_ROWS` records of a CSV or JSON-lines file (the rows a whole-file read
    infers the types from), so that a budgeted read does not fetch an object whole first."""
    import polars as pl

    with opener() as handle:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            arrow = pq.ParquetFile(handle, memory_map=False, pre_buffer=False).schema_arrow
            empty = pl.from_arrow(arrow.empty_table())
            assert isinstance(empty, pl.DataFrame)
            return empty.schema
        quoted = fmt == "csv"
        head = b"".join(_head(handle, INFER_ROWS + int(quoted), quoted=quoted))
    if quoted:
        read = pl.read_csv(head, try_parse_dates=True, infer_schema_length=INFER_ROWS)
    else:
        read = pl.read_ndjson(head, infer_schema_length=INFER_ROWS)
    if not read.height:  # a header alone says no type: its columns take the other files'
        return pl.Schema(dict.fromkeys(read.columns, pl.Null))
    return read.schema


def _head(handle: IO[bytes], records: int, *, quoted: bool) -> Iterator[bytes]:
    """The first ``records`` whole records (non-blank lines; with ``quoted``, a record may hold
    newlines inside double quotes)."""
    while records:
        record = _record(handle, handle.readline(), quoted)
        if not record:
            return
        if record.strip():
            records -= 1
        yield record


def _opener(path: str) -> Opener:
    return lambda: open(path, "rb")


def _slices(path: str) -> Reader:
    def read(_: Opener, schema: pl.Schema, chunk_bytes: int) -> Iterator[pl.DataFrame]:
        import polars as pl

        lf = pl.scan_parquet(path).select(list(schema))
        first = lf.slice(0, PROBE_ROWS).collect()
        rows = max(1, int(chunk_bytes // max(1.0, first.estimated_size() / max(1, first.height))))
        offset = 0
        while True:
            df = lf.slice(offset, rows).collect()
            if not df.height:
                return
            yield df.cast(schema)
            offset += df.height

    return read


def _parquet(opener: Opener, schema: pl.Schema, chunk_bytes: int) -> Iterator[pl.DataFrame]:
    import polars as pl
    import pyarrow.parquet as pq

    with opener() as handle:
        reader = pq.ParquetFile(handle, memory_map=False, pre_buffer=False)
        meta = reader.metadata
        rows = meta.num_rows
        size = sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups))
        per_chunk = max(1, int(chunk_bytes // max(1.0, size / max(1, rows))))
        for batch in reader.iter_batches(batch_size=per_chunk, use_threads=False):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            yield frame.cast(schema)


def _lines(opener: Opener, chunk_bytes: int, *, quoted: bool, skip_header: bool) -> Iterator[bytes]:
    """Blocks of whole lines (whole records: with ``quoted``, a block never ends inside a
    double-quoted field), each about ``chunk_bytes`` long."""
    with opener() as handle:
        if skip_header:
            header = _record(handle, handle.readline(), quoted)
            if not header:
                return
        while True:
            block = handle.read(chunk_bytes)
            if not block:
                return
            yield _record(handle, block, quoted)


def _record(handle: IO[bytes], block: bytes, quoted: bool) -> bytes:
    """``block`` extended up to the end of the record it stops in."""
    parts = [block]
    inside = quoted and block.count(b'"') % 2 == 1
    while (not block.endswith(b"\n") or inside) and block:
        block = handle.readline()
        parts.append(block)
        if quoted and block.count(b'"') % 2 == 1:
            inside = not inside
    return b"".join(parts)


def _csv(opener: Opener, schema: pl.Schema, chunk_bytes: int) -> Iterator[pl.DataFrame]:
    import polars as pl

    for block in _lines(opener, chunk_bytes, quoted=True, skip_header=True):
        if block.strip():
            yield pl.read_csv(block, has_header=False, schema=schema, try_parse_dates=True)


def _jsonl(opener: Opener, schema: pl.Schema, chunk_bytes: int) -> Iterator[pl.DataFrame]:
    import polars as pl

    for block in _lines(opener, chunk_bytes, quoted=False, skip_header=False):
        if block.strip():
            yield pl.read_ndjson(block, schema=schema)
