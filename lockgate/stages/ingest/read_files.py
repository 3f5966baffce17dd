"""Batches from files. The watermark of a file source is the partition key (the file's path
below the source root, which sorts hive folders and zero-padded names in time order): a run reads
the partitions past it, in ``mode: stream`` one partition per batch. With
``incremental.watermark: COLUMN`` a batch run instead keeps the rows whose column is past the
recorded value, across every partition (the filter is pushed down into the scan); a row whose
column is NULL is never read, as it has no place past any value.

Each file's columns are read (a Parquet footer, a CSV or JSON file's first rows) before its rows,
and a file that cannot be read stops the run with one line naming it. A file of no rows (a CSV
holding its header alone, whose columns would all read as text) contributes no column types: it
is left out of the union and of the pinned schema, and in a stream it is an empty batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.stages.ingest.budget import MemoryPlan
from lockgate.stages.ingest.config import IngestConfig
from lockgate.stages.ingest.files import Partition, partitions, reading
from lockgate.stages.ingest.journal import Journal, JournalError, schema_change
from lockgate.stages.ingest.run import Batch, Schema

if TYPE_CHECKING:
    import polars as pl


FETCHES = 16  # objects of a store fetched at once, when a read learns every object's columns


@dataclass(frozen=True)
class _Scanned:
    """A partition's columns and, for a read that is not bounded, its scan: the scan keeps the
    columns it read, so reading its rows later infers nothing again (and a file from a store is
    not fetched twice). A bounded read keeps no scan: it reads each file again, in chunks."""

    part: Partition
    columns: pl.Schema
    frame: pl.LazyFrame | None
    empty: bool = False  # no rows: its columns are Null, and it pins no type


def _scanned(part: Partition, *, keep: bool = True) -> _Scanned:
    """``part``'s columns (and scan); a file that cannot be read stops the run here, named.
    Without ``keep``, an object's columns come from its head: its scan would fetch it whole."""
    import polars as pl

    if not keep and part.columns is not None:
        columns = part.columns()
        empty = bool(columns) and all(dtype == pl.Null for dtype in columns.values())
        return _Scanned(part, columns, None, empty)
    frame = part.scan()
    with reading(part.label):
        columns = frame.collect_schema()
        # a CSV's header alone reads as text columns (a file with rows infers their types):
        # a small file of text columns is asked for a row, which costs a larger one its size
        rowless = all(dtype == pl.String for dtype in columns.dtypes()) and part.size < 2**20
        if rowless and not frame.head(1).collect().height:
            nulls = pl.Schema(dict.fromkeys(columns, pl.Null))
            return _Scanned(part, nulls, pl.LazyFrame(schema=nulls) if keep else None, True)
    return _Scanned(part, columns, frame if keep else None)


def _scanned_all(found: list[Partition], *, keep: bool) -> list[_Scanned]:
    """Every partition's :func:`_scanned`, in order. Fetching an object is mostly waiting on the
    store, so a store's objects are fetched :data:`FETCHES` at a time (a local file's scan is
    lazy); the first partition in order that cannot be read stops the run, and no fetch is
    started after it."""
    if len(found) < 2 or all(p.columns is None for p in found):
        return [_scanned(p, keep=keep) for p in found]
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(FETCHES, thread_name_prefix="fetch")
    try:
        return list(pool.map(lambda p: _scanned(p, keep=keep), found))
    finally:
        pool.shutdown(cancel_futures=True)


def _frame(scan: _Scanned) -> pl.LazyFrame:
    assert scan.frame is not None
    return scan.frame


def _schema(scan: _Scanned) -> Schema:
    return tuple((name, str(dtype)) for name, dtype in scan.columns.items())


def file_batches(
    cfg: IngestConfig,
    resolve: Callable[[str], Path],
    secret: Callable[[str], str],
    journal: Journal,
    memory: MemoryPlan | None = None,
    state: Path | None = None,
) -> tuple[dict[str, Any], Schema, Iterator[Batch]]:
    """The source's information, the columns the journal pins and the batches to write.
    ``state``: the dataset's folder, which a message about the journal names."""
    src = cfg.source.files
    assert src is not None
    found = partitions(src, resolve, secret)
    info = {"kind": "files", "path": src.path, "partitions": len(found)}
    column = cfg.incremental.watermark if cfg.incremental else None
    if column is None and cfg.mode == "stream":
        mark = journal.watermark
        fresh = [p for p in found if mark is None or p.key > mark]
        # each partition is read when its batch is; the first one with rows pins the columns,
        # and the scans read to find it are the first batches' (an object is fetched once),
        # unless nothing is fresh
        leading = _leading(fresh or found, keep=memory is None and bool(fresh))
        schema = _schema(leading[-1])
        if memory is not None:
            return info, schema, _bounded_stream(fresh, schema, memory)
        return info, schema, _stream(fresh, schema, leading)
    scans = _scanned_all(found, keep=memory is None)
    union = _union(scans)
    if column is not None and column not in union:
        raise JournalError(
            f"with.incremental.watermark: column {column!r} is not in the source's columns "
            f"({', '.join(union)})"
        )
    # the journal pins the union, as the parts hold it: a later file that adds a column or
    # changes one's type is then named as a change upstream, before anything is written
    schema = tuple((name, str(dtype)) for name, dtype in union.items())
    _refuse_changed(scans, journal, schema, state)
    if memory is not None:
        return info, schema, bounded_batches(cfg, scans, union, journal, memory)
    if column is None:
        return info, schema, _whole(scans)
    return info, schema, _rows_past(scans, union, column, journal.watermark)


def _refuse_changed(
    scans: list[_Scanned], journal: Journal, schema: Schema, state: Path | None
) -> None:
    """Refuse, naming the first file to blame, a union of the files' columns that is not the
    one the journal pinned (a column added, or its type changed, upstream)."""
    pinned = journal.schema
    if pinned is None or not schema_change(pinned, schema):
        return
    known = dict(pinned)
    blamed = next(
        (
            scan
            for scan in scans
            if not scan.empty
            and any(known.get(name) != str(dtype) for name, dtype in scan.columns.items())
        ),
        None,
    )
    where = f" (first in {blamed.part.label})" if blamed is not None else ""
    folder = state if state is not None else "the stage's state folder"
    raise JournalError(
        f"the source's columns changed since the last batch{where}: "
        f"{schema_change(pinned, schema)}; the watermark stays at {journal.watermark!r}. Restore "
        f"the column, or start a new dataset by deleting {folder}"
    )


def _union(scans: list[_Scanned]) -> pl.Schema:
    """Every partition's columns together, each of the type they share (as a diagonal, relaxed
    concatenation of the files gives them), from the columns already read."""
    import polars as pl

    empty = [pl.LazyFrame(schema=s.columns) for s in scans]
    return pl.concat(empty, how="diagonal_relaxed").collect_schema()


def _whole(scans: list[_Scanned]) -> Iterator[Batch]:
    """One batch of every partition, read when it is written."""
    import polars as pl

    yield Batch(pl.concat([_frame(s) for s in scans], how="diagonal_relaxed"), None)


def _leading(found: list[Partition], *, keep: bool) -> list[_Scanned]:
    """The scans of ``found`` up to its first partition with rows (all, when none has any)."""
    scans = []
    for part in found:
        scans.append(_scanned(part, keep=keep))
        if not scans[-1].empty:
            break
    return scans


def _stream(fresh: list[Partition], schema: Schema, leading: list[_Scanned]) -> Iterator[Batch]:
    """One batch a partition, an empty one for a partition of no rows; the first partitions'
    scans are ``leading``, already made (and let go once read: an object's scan holds its
    bytes)."""
    import polars as pl

    made = {s.part.key: s for s in leading if s.frame is not None}
    columns = leading[-1].columns
    for part in fresh:
        scan = made.pop(part.key, None) or _checked(_scanned(part), schema)
        if scan.empty:
            yield Batch(pl.LazyFrame(schema=columns), part.key)
        else:
            yield Batch(_frame(scan), part.key)


def _rows_past(scans: list[_Scanned], union: pl.Schema, column: str, mark: Any) -> Iterator[Batch]:
    """One batch of the rows past ``mark``, read partition by partition (so that a row that
    cannot be read names its file); a partition without the column has none."""
    import polars as pl

    frames = []
    for scan in scans:
        if column not in scan.columns or scan.empty:
            continue
        value = pl.col(column)
        if scan.columns[column] != union[column]:
            value = value.cast(union[column])
        lf = _aligned(_frame(scan).filter(_after(value, mark)), scan.columns, union)
        with reading(scan.part.label):
            frames.append(lf.collect())
    df = pl.concat(frames)
    if df.height:
        yield Batch(df, df[column].max())


def _after(value: pl.Expr, mark: Any) -> pl.Expr:
    """The rows whose watermark ``value`` is past ``mark`` (any value, with no mark), and not
    NULL (a NULL is past no value; were it read, no watermark could keep it from the next run)."""
    past = value.is_not_null()
    return past if mark is None else past & (value > mark)


def _aligned(frame: Any, own: pl.Schema, union: pl.Schema) -> Any:
    """``frame`` (lazy or not) with ``union``'s columns, in its order and types; a column it
    lacks is NULL."""
    import polars as pl

    missing = [pl.lit(None, dtype).alias(n) for n, dtype in union.items() if n not in own]
    return frame.with_columns(missing).select(list(union)).cast(union)


def _checked(scan: _Scanned, schema: Schema) -> _Scanned:
    """A stream partition, refused when its columns differ from the first partition's (a
    partition of no rows has no types to differ)."""
    change = schema_change(schema, _schema(scan)) if not scan.empty else ""
    if change:
        raise JournalError(f"partition {scan.part.key}: {change}; the watermark stays before it")
    return scan


def _bounded_stream(fresh: list[Partition], schema: Schema, memory: MemoryPlan) -> Iterator[Batch]:
    """The batches of :func:`_stream`, each read in chunks of ``memory.chunk_bytes``."""
    for part in fresh:
        scan = _checked(_scanned(part, keep=False), schema)
        yield Batch(_chunks([scan], scan.columns, memory), part.key)  # none when it is empty


def bounded_batches(
    cfg: IngestConfig,
    scans: list[_Scanned],
    union: pl.Schema,
    journal: Journal,
    memory: MemoryPlan,
) -> Iterator[Batch]:
    """The batches of :func:`file_batches`, each read in chunks of ``memory.chunk_bytes`` (the
    same rows, in the same parts' order, with the same columns)."""
    column = cfg.incremental.watermark if cfg.incremental else None
    chunks = _chunks(scans, union, memory)
    if column is None:
        yield Batch(chunks, None)
        return
    import polars as pl

    seen: list[Any] = [journal.watermark]
    after = _after(pl.col(column), journal.watermark)

    def past(frames: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
        for df in frames:
            df = df.filter(after)
            if df.height:
                top = df[column].max()
                seen[0] = top if seen[0] is None else max(seen[0], top)
                yield df

    yield Batch(past(chunks), lambda: seen[0])


def _chunks(scans: list[_Scanned], union: pl.Schema, memory: MemoryPlan) -> Iterator[Any]:
    """Every partition's rows in bounded frames, each given ``union``'s columns and types."""
    for scan in scans:
        assert scan.part.chunks is not None
        if scan.empty:
            continue
        for df in scan.part.chunks(scan.columns, memory.chunk_bytes):
            yield _aligned(df, scan.columns, union)
