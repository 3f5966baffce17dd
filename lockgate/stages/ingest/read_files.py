"""Batches from files. The watermark of a file source is the partition key (the file's path
below the source root, which sorts hive folders and zero-padded names in time order): a run reads
the partitions past it, in ``mode: stream`` one partition per batch. With
``incremental.watermark: COLUMN`` a batch run instead keeps the rows whose column is past the
recorded value, across every partition (the filter is pushed down into the scan).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lockgate.stages.ingest.config import IngestConfig
from lockgate.stages.ingest.files import Partition, partitions
from lockgate.stages.ingest.journal import Journal
from lockgate.stages.ingest.run import Batch, Schema


def _schema(parts: list[Partition]) -> Schema:
    lf = parts[0].scan()
    return tuple((name, str(dtype)) for name, dtype in lf.collect_schema().items())


def file_batches(
    cfg: IngestConfig,
    resolve: Callable[[str], Path],
    secret: Callable[[str], str],
    journal: Journal,
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
