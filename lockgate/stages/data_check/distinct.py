"""Exact distinct-key counting in bounded memory, for ``unique`` under a memory budget.

The key columns of each batch are hash-partitioned into ``partitions`` Arrow IPC files in a
temporary folder (a key always lands in the same partition), then each partition is read back
and its distinct keys counted; the distinct count of the input is the sum over partitions.
Memory is bounded by one batch while writing and by one partition's distinct keys while
counting (a partition is read in chunks and de-duplicated as it grows, so heavily repeated keys
do not pile up). The price is disk: the key columns are written once and read once. With one
partition nothing goes to disk: the batches' keys are de-duplicated in memory as they arrive.

Nulls count as a value, as in Polars' ``n_unique``: two rows with a null key are duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

SEED = 0x10C6A7E


@dataclass
class Compactor:
    """Distinct rows of a growing stream of frames, de-duplicated whenever they pile up."""

    limit_rows: int
    seen: list[pl.DataFrame] = field(default_factory=list)
    rows: int = 0
    compacted: int = 0

    def add(self, frame: pl.DataFrame) -> None:
        self.seen.append(frame)
        self.rows += frame.height
        if self.rows > max(self.limit_rows, 2 * self.compacted):
            self._compact()

    def _compact(self) -> None:
        import polars as pl

        merged = pl.concat(self.seen, how="vertical").unique()
        self.seen, self.rows, self.compacted = [merged], merged.height, merged.height

    def count(self) -> int:
        if not self.seen:
            return 0
        self._compact()
        return self.rows


@dataclass
class DistinctCounter:
    """Counts the distinct values of ``columns`` over the batches given to :meth:`add`."""

    columns: tuple[str, ...]
    partitions: int
    folder: Path
    limit_rows: int
    _writers: dict[int, Any] = field(default_factory=dict)
    _memory: Compactor | None = None

    def add(self, batch: pl.DataFrame) -> None:
        import polars as pl

        keys = batch.select(self.columns)
        if self.partitions <= 1:
            if self._memory is None:
                self._memory = Compactor(self.limit_rows)
            self._memory.add(keys)
            return
        part = pl.struct(self.columns).hash(SEED) % self.partitions
        keyed = keys.with_columns(part.alias("__part"))
        for (index,), piece in keyed.partition_by("__part", as_dict=True).items():
            self._write(int(index), piece.drop("__part"))

    def _write(self, index: int, piece: pl.DataFrame) -> None:
        import pyarrow as pa

        table = piece.to_arrow()
        writer = self._writers.get(index)
        if writer is None:
            sink = pa.OSFile(str(self._path(index)), "wb")
            writer = self._writers[index] = (sink, pa.ipc.new_stream(sink, table.schema))
        writer[1].write_table(table)

    def _path(self, index: int) -> Path:
        return self.folder / f"{'-'.join(self.columns)[:40]}.{id(self)}.{index}.arrow"

    def count(self) -> int:
        """The number of distinct keys seen; partition files are deleted as they are read."""
        import polars as pl
        import pyarrow as pa

        if self.partitions <= 1:
            return self._memory.count() if self._memory is not None else 0
        total = 0
        for index, (sink, writer) in sorted(self._writers.items()):
            writer.close()
            sink.close()
            compactor = Compactor(self.limit_rows)
            path = self._path(index)
            with pa.OSFile(str(path), "rb") as source:
                for chunk in pa.ipc.open_stream(source):
                    frame = pl.from_arrow(chunk)
                    assert isinstance(frame, pl.DataFrame)
                    compactor.add(frame)
            total += compactor.count()
            path.unlink()
        self._writers.clear()
        return total
