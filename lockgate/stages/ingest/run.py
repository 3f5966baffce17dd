"""One run of an ingest stage: read batches past the watermark, transform, commit each.

Batch mode without ``incremental`` writes a fresh dataset into the stage's output. With
``incremental`` or ``mode: stream`` the dataset lives under the project state
(``<state>/ingest/<stage>/``) and grows run after run; each run links its parts into the output
and writes the manifest there. A run holds an exclusive lock on that folder from start to end: a
second run of the same stage meanwhile stops at once with one line (were it to go on, it would
delete the first one's parts in flight as a crash's leftovers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.stages.ingest.budget import plan
from lockgate.stages.ingest.config import IngestConfig
from lockgate.stages.ingest.journal import SEALED, Journal, JournalError, Sink
from lockgate.stages.ingest.manifest import RunSummary, publish
from lockgate.stages.ingest.prefetch import prefetched
from lockgate.stages.ingest.transform import apply_steps

if TYPE_CHECKING:
    import polars as pl

    from lockgate.engine.sealing import Sealer

Schema = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Batch:
    """Rows committed together: a frame, or (under ``memory_budget``) an iterator of bounded
    frames, each its own part; ``watermark`` may be a function, called once they are read."""

    frame: pl.DataFrame | pl.LazyFrame | Iterator[pl.DataFrame]
    watermark: Any
    key: Any = None  # with incremental.tiebreaker: the key of the batch's last row


@dataclass(frozen=True)
class Ingest:
    config: IngestConfig
    resolve: Callable[[str], Path]
    secret: Callable[[str], str]
    out: Path
    state_folder: Path
    sealer: Sealer | None = None
    references: dict[str, pl.DataFrame] = field(default_factory=dict)  # joins' tables, once read
    empty_schema: dict[str, str] = field(default_factory=dict)  # the columns of a batch of no rows

    @property
    def persistent(self) -> bool:
        return self.config.incremental is not None or self.config.mode == "stream"

    def run(self) -> tuple[Journal, RunSummary]:
        with ExitStack() as stack:
            return self._run(stack)

    def _run(self, stack: ExitStack) -> tuple[Journal, RunSummary]:
        # Only the state folder is sealed here; the output is sealed by the engine's cache.
        folder = self.state_folder if self.persistent else self.out
        sink = Sink(folder, self.sealer if self.persistent else None, durable=self.persistent)
        if self.persistent:
            _hold(folder, stack)
        journal = sink.load() if self.persistent else Journal()
        sink.recover(journal)
        journal = sink.pin_read_by(journal, self._read_by())
        src = self.config.source
        budget = self.config.memory_budget_bytes
        memory = plan(budget, self.config.transform, self.resolve) if budget else None
        if src.postgres is not None:
            from lockgate.stages.ingest.read_postgres import postgres_batches

            source_info, schema, batches = postgres_batches(
                self.config, self.secret, journal, stack, memory
            )
        else:
            from lockgate.stages.ingest.read_files import file_batches

            source_info, schema, batches = file_batches(
                self.config, self.resolve, self.secret, journal, memory, folder
            )
        journal = sink.pin_schema(journal, schema)
        n_batches = rows = 0
        out_schema: dict[str, str] = {}
        for batch in prefetched(batches):  # the next batch is read while this one is written
            parts = _Counted(self._parts(batch.frame))
            journal = sink.commit(
                journal, parts, batch.watermark, self.config.output.codec, batch.key
            )
            out_schema = parts.schema or out_schema
            n_batches += 1
            rows += parts.rows
        summary = RunSummary(
            source=source_info,
            # a read of no rows still knows its columns: from the parts kept, else the empty batch
            schema=out_schema or _known_schema(sink, journal) or self.empty_schema,
            watermark_column=self.config.incremental.watermark
            if self.config.incremental
            else ("partition" if self.persistent else None),
            batches=n_batches,
            rows_read=rows,
        )
        publish(sink, self.out, journal, summary)
        return journal, summary

    def _read_by(self) -> tuple[str, ...] | None:
        """What the watermark is a value of: its column (and the tiebreaker's), or () for a
        stream over partitions; None for a dataset written afresh."""
        inc = self.config.incremental
        if inc is not None:
            return (inc.watermark, *((inc.tiebreaker,) if inc.tiebreaker else ()))
        return () if self.persistent else None

    def _parts(
        self, frame: pl.DataFrame | pl.LazyFrame | Iterator[pl.DataFrame]
    ) -> Iterator[pl.DataFrame]:
        if not isinstance(frame, Iterator):
            yield from self._transform(frame)
            return
        for chunk in frame:  # a bounded read: each chunk is transformed and written alone
            yield from self._transform(chunk)

    def _transform(self, frame: pl.DataFrame | pl.LazyFrame) -> list[pl.DataFrame]:
        held = self.references if self.config.memory_budget is not None else None
        lf = apply_steps(frame.lazy(), self.config.transform, self.resolve, held)
        import polars as pl

        from lockgate.stages.ingest.transform import TransformError

        try:
            df = lf.collect()
        except pl.exceptions.PolarsError as exc:
            first = str(exc).strip().splitlines()[0]
            if not self.config.transform:  # nothing but the read ran: the data is at fault
                from lockgate.stages.ingest.postgres import SourceError

                raise SourceError(f"with.source: cannot read the data: {first}") from None
            raise TransformError(f"with.transform: {first}") from None
        if not df.height:
            self.empty_schema.update({k: str(v) for k, v in df.schema.items()})
            return []
        if self.config.mode == "stream" and self.config.source.postgres is not None:
            return [df]  # the reader already bounded this micro-batch
        # a file is read whole (a partition cannot be resumed partway), so its rows are cut
        # into parts of at most max_rows rows and, with max_bytes, about that many bytes
        step, limit = self.config.batch.max_rows, self.config.batch.max_bytes
        if limit is not None:
            step = max(1, min(step, limit // max(1, int(df.estimated_size()) // df.height)))
        return [df.slice(i, step) for i in range(0, df.height, step)]


class _Counted:
    """The parts of a batch as they pass to the sink: their rows and the first one's schema."""

    def __init__(self, parts: Iterator[pl.DataFrame]) -> None:
        self.parts = parts
        self.rows = 0
        self.schema: dict[str, str] = {}

    def __iter__(self) -> Iterator[pl.DataFrame]:
        for part in self.parts:
            if not self.schema:
                self.schema = {k: str(v) for k, v in part.schema.items()}
            self.rows += part.height
            yield part


def _hold(folder: Path, stack: ExitStack) -> None:
    """An exclusive lock on the dataset's folder until ``stack`` closes (the process's end
    releases it too, however it ends)."""
    import fcntl
    import os

    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    stack.callback(os.close, fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise JournalError(
            f"{folder}: another run of this ingest stage is writing its dataset; wait for it "
            "to finish, then run the stage again"
        ) from None


def _known_schema(sink: Sink, journal: Journal) -> dict[str, str]:
    """The output schema from the newest committed part (a run that read nothing new)."""
    if not journal.parts:
        return {}
    import io

    import polars as pl

    from lockgate.engine.sealing import SealError

    path = sink.part_file(journal.parts[-1])
    if sink.sealer is not None and path.name.endswith(SEALED):
        name = sink.sealed_name(journal, path.name)
        try:
            body = io.BytesIO(sink.sealer.open(path.read_bytes(), name, str(path)))
        except SealError as exc:  # no stage re-writes a kept part: the dataset starts over
            raise sink.restart(exc) from None
        return {k: str(v) for k, v in pl.read_parquet(body, n_rows=0).schema.items()}
    return {k: str(v) for k, v in pl.read_parquet_schema(path).items()}


def batches_of(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
