"""Batches from files. The watermark of a file source is the partition key (the file's path
below the source root, which sorts hive folders and zero-padded names in time order): a run reads
the partitions past it, in ``mode: stream`` one partition per batch. With
``incremental.watermark: COLUMN`` a batch run instead keeps the rows whose column is past the
recorded value, across every partition (the filter is pushed down into the scan).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.stages.ingest.budget import MemoryPlan
from lockgate.stages.ingest.config import IngestConfig
from lockgate.stages.ingest.files import Partition, partitions
from lockgate.stages.ingest.journal import Journal
from lockgate.stages.ingest.run import Batch, Schema

if TYPE_CHECKING:
    import polars as pl


def _schema(parts: list[Partition]) -> Schema:
    lf = parts[0].scan()
    return tuple((name, str(dtype)) for name, dtype in lf.collect_schema().items())


def file_batches(
    cfg: IngestConfig,
    resolve: Callable[[str], Path],
    secret: Callable[[str], str],
    journal: Journal,
    memory: MemoryPlan | None = None,
) -> tuple[dict[str, Any], Schema, Iterator[Batch]]:
    import polars as pl

    src = cfg.source.files
    assert src is not None
    found = partitions(src, resolve, secret)
    info = {"kind": "files", "path": src.path, "partitions": len(found)}
    column = cfg.incremental.watermark if cfg.incremental else None
    if column is None and cfg.mode == "batch" and cfg.incremental is None:
        fresh = found
    else:
        mark = journal.watermark if column is None else None
        fresh = [p for p in found if mark is None or p.key > mark]
    schema = _schema(fresh or found)
    if memory is not None:
        return info, schema, bounded_batches(cfg, fresh, schema, journal, memory)

    def batches() -> Iterator[Batch]:
        if not fresh:
            return
        if column is not None:
            lf = pl.concat([p.scan() for p in fresh], how="diagonal_relaxed")
            if journal.watermark is not None:
                lf = lf.filter(pl.col(column) > journal.watermark)
            df = lf.collect()
            if df.height:
                yield Batch(df, df[column].max())
            return
        if cfg.mode == "stream":
            for part in fresh:
                yield Batch(_checked(part, schema), part.key)
            return
        yield Batch(
            pl.concat([p.scan() for p in fresh], how="diagonal_relaxed"),
            fresh[-1].key if cfg.incremental or cfg.mode == "stream" else None,
        )

    return info, schema, batches()


def _checked(part: Partition, schema: Schema) -> Any:
    """A stream partition, refused when its columns differ from the first partition's."""
    from lockgate.stages.ingest.journal import JournalError, schema_change

    lf = part.scan()
    now = tuple((n, str(t)) for n, t in lf.collect_schema().items())
    change = schema_change(schema, now)
    if change:
        raise JournalError(f"partition {part.key}: {change}; the watermark stays before it")
    return lf


def bounded_batches(
    cfg: IngestConfig, fresh: list[Partition], schema: Schema, journal: Journal, memory: MemoryPlan
) -> Iterator[Batch]:
    """The batches of :func:`file_batches`, each read in chunks of ``memory.chunk_bytes`` (the
    same rows, in the same parts' order, with the same columns)."""
    import polars as pl

    if not fresh:
        return
    column = cfg.incremental.watermark if cfg.incremental else None
    if cfg.mode == "stream" and column is None:
        for part in fresh:
            _checked(part, schema)
            yield Batch(_chunks([part], part.scan().collect_schema(), memory), part.key)
        return
    union = pl.concat([p.scan() for p in fresh], how="diagonal_relaxed").collect_schema()
    chunks = _chunks(fresh, union, memory)
    if column is None:
        yield Batch(chunks, fresh[-1].key if cfg.incremental else None)
        return
    seen: list[Any] = [journal.watermark]

    def past(frames: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
        for df in frames:
            if journal.watermark is not None:
                df = df.filter(pl.col(column) > journal.watermark)
            if df.height:
                top = df[column].max()
                seen[0] = top if seen[0] is None else max(seen[0], top)
                yield df

    yield Batch(past(chunks), lambda: seen[0])


def _chunks(parts: list[Partition], union: pl.Schema, memory: MemoryPlan) -> Iterator[Any]:
    """Every partition's rows in bounded frames, each given ``union``'s columns and types."""
    import polars as pl

    for part in parts:
        assert part.chunks is not None
        own = part.scan().collect_schema()
        for df in part.chunks(own, memory.chunk_bytes):
            missing = [pl.lit(None, dtype).alias(n) for n, dtype in union.items() if n not in own]
            yield df.with_columns(missing).select(list(union)).cast(union)
