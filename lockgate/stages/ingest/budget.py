"""``memory_budget``: how much memory the data of an ingest run may occupy at once.

The budget covers the batches in flight, not the interpreter and its libraries, whose fixed cost
docs/ingest.md states (measured). From it a run derives the size of each chunk it reads: a frame
is read while the previous one waits and another is transformed and written as Parquet, and each
of those steps may hold a copy (the driver's Arrow batch and the frame made from it, a
transformed frame, the encoded part), so a chunk is an eighth of what is left once the reference
tables of the joins are counted. A PostgreSQL read asks the driver for record batches of that
many bytes, or micro-batches of that many bytes' worth of rows (from the measured row width); a
file is read in chunks of that many bytes or rows, so no part, no row group and no frame is
larger. A join holds its whole reference table: one that would take more than half the budget is
refused before anything is read (joining against a streamed scan of the file instead was
measured, and its peak follows the file's row groups, not the budget: docs/ingest.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lockgate.stages.ingest.config import Step
from lockgate.stages.ingest.transform import TransformError

# What a run costs besides its data: the interpreter, Polars, pyarrow, the PostgreSQL drivers,
# thread pools and allocator arenas. Measured on 2 cores as the peak RSS of a run that reads 10
# rows: about 185 MiB from PostgreSQL (both drivers loaded) and 76 MiB from a file under one
# CPython 3.11 build, 245 MiB and 98 MiB under Debian 12's; docs/ingest.md and the tests state
# these bounds.
FIXED_FOOTPRINT = 256 * 2**20
FILE_FOOTPRINT = 128 * 2**20
IN_FLIGHT = 8  # copies of a chunk the pipeline may hold at once (about 6 were measured)
MIN_CHUNK = 256 * 1024
JOIN_SHARE = 0.5  # the most of the budget reference tables may take


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB" if n >= 2**20 else f"{n / 1024:,.0f} KiB"


@dataclass(frozen=True)
class MemoryPlan:
    """What one run of the stage may hold: ``chunk_bytes`` of data per chunk in flight."""

    budget: int
    chunk_bytes: int

    def rows_for(self, width: float) -> int:
        """Rows per chunk for rows of ``width`` bytes each (as measured on a first chunk)."""
        return max(1, int(self.chunk_bytes // max(1.0, width)))


def plan(budget: int, steps: Sequence[Step], resolve: Callable[[str], Path]) -> MemoryPlan:
    """The chunk size for ``budget``; a join whose reference table does not fit is refused."""
    held = 0
    for i, step in enumerate(steps):
        if step.join is None:
            continue
        path = resolve(step.join.table)
        size = reference_size(path)
        held += size
        if held > budget * JOIN_SHARE:
            raise TransformError(
                f"with.transform[{i}].join: the reference table {step.join.table} takes about "
                f"{mib(size)} in memory, and a join holds its whole reference table: the joins' "
                f"tables may take at most half of memory_budget ({mib(budget)}). Raise "
                "memory_budget, or filter or narrow the reference table before the run"
            )
    chunk = (budget - held) // IN_FLIGHT
    return MemoryPlan(budget, max(MIN_CHUNK, chunk))


def reference_size(path: Path) -> int:
    """About how many bytes a reference table takes once read: a Parquet file's uncompressed
    size from its footer, else the file's size (text is about as large as its columns)."""
    if not path.is_file():
        return 0  # the transform names the missing file when it is applied
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(path).metadata
        except (OSError, ValueError):
            return path.stat().st_size
        return sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups))
    return path.stat().st_size
