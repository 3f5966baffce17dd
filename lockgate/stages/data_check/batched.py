"""Evaluation in batches under ``memory_budget``: inputs larger than memory, bounded peak.

The input is read as consecutive row slices of the lazy scan, projected to the columns the
plan needs (``scan.select(cols).slice(offset, n).collect()``; Polars reads only the row groups
and pages a slice covers). The plan's expressions run on each batch and the partial aggregates
are merged (:mod:`~lockgate.stages.data_check.partials`); unique keys go to a
:class:`~lockgate.stages.data_check.distinct.DistinctCounter`. The values equal those of the
one-pass evaluation up to float rounding.

The batch holds ``budget / (ROW_FACTOR x row width)`` rows; the factor covers what one batch
costs beyond its own bytes: the decoded row groups or pages it was sliced from, the temporaries
of the expressions, and the allocator's slack (measured: 20 k to 250 k rows of 21 columns peak
at 4 to 8 times the batch's bytes above the interpreter's baseline).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.stages.data_check.bins import ReferenceSample, sample_exprs, sample_step
from lockgate.stages.data_check.compiler import ScanPlan
from lockgate.stages.data_check.distinct import DistinctCounter
from lockgate.stages.data_check.partials import merge_row
from lockgate.stages.data_check.source import Dataset, DataSourceError

if TYPE_CHECKING:
    import polars as pl

ROW_FACTOR = 8
PARTITION_SHARE = 32  # one uniqueness partition's keys: at most budget / PARTITION_SHARE bytes
MIN_ROWS, MAX_ROWS = 1_000, 2_000_000
WIDTH_SAMPLE = 1_000


def _reading(label: str) -> Any:
    """Turns a read failure inside the ``with`` block into a :class:`DataSourceError`."""
    import contextlib

    import polars as pl

    @contextlib.contextmanager
    def guard() -> Iterator[None]:
        try:
            yield
        except (pl.exceptions.PolarsError, OSError) as exc:
            text = str(exc).strip()
            first = text.splitlines()[0] if text else type(exc).__name__
            raise DataSourceError(f"cannot read {label!r}: {first}") from None

    return guard()


def _width(column: pl.Series) -> float:
    """Bytes per row of ``column``: its data, at least 8, plus the 16-byte view of a string."""
    import polars as pl

    data = column.estimated_size() / max(column.len(), 1)
    view = 16.0 if column.dtype in (pl.String, pl.Binary) else 0.0
    return max(data, 8.0) + view


def _batch_rows(budget: float, sizes: dict[str, float]) -> int:
    rows = int(budget / (ROW_FACTOR * max(sum(sizes.values()), 8.0)))
    return min(max(rows, MIN_ROWS), MAX_ROWS)


@dataclass(frozen=True)
class Batches:
    """Row slices of one dataset's projected columns, sized from the budget."""

    frame: pl.LazyFrame
    rows: int
    column_bytes: dict[str, float]
    batch_rows: int

    @classmethod
    def of(cls, dataset: Dataset, columns: Sequence[str], budget: int) -> Batches:
        import polars as pl

        scan = dataset.scan()
        with _reading(dataset.label):
            if not columns:
                columns = list(scan.collect_schema())[:1]
            frame = scan.select(columns)
            rows = int(scan.select(pl.len()).collect().item())
            head = frame.head(WIDTH_SAMPLE).collect()
        sizes = {c: _width(head[c]) for c in head.columns}
        return cls(frame, rows, sizes, _batch_rows(budget, sizes))

    def within(self, budget: float) -> Batches:
        """The same slices, sized for ``budget`` bytes instead."""
        return replace(self, batch_rows=_batch_rows(budget, self.column_bytes))

    def __iter__(self) -> Iterator[tuple[int, pl.DataFrame]]:
        """``(offset, batch)`` pairs; at least one (possibly empty) batch."""
        offset = 0
        while True:
            with _reading("batch"):
                batch = self.frame.slice(offset, self.batch_rows).collect()
            if batch.height or offset == 0:
                yield offset, batch
            offset += batch.height
            if batch.height < self.batch_rows:
                return


@dataclass(frozen=True)
class BatchedEvaluation:
    """Evaluates scan plans and reference samples batch by batch within ``budget`` bytes."""

    budget: int
    scratch: Path | None = None

    def rows(self, passes: Sequence[tuple[Dataset, ScanPlan]]) -> list[dict[str, Any]]:
        return [self._row(dataset, plan) for dataset, plan in passes]

    def _row(self, dataset: Dataset, plan: ScanPlan) -> dict[str, Any]:
        batches = Batches.of(dataset, plan.columns(), self.budget)
        exprs = list(plan.exprs.values())
        with tempfile.TemporaryDirectory(prefix="lockgate-unique-", dir=self.scratch) as tmp:
            counters = {
                key: self._counter(batches, columns, Path(tmp))
                for key, columns in plan.duplicates.items()
            }
            running: dict[str, Any] | None = None
            rows = 0
            for _, batch in batches:
                with _reading(dataset.label):
                    partial = batch.select(exprs).row(0, named=True) if exprs else {}
                running = merge_row(plan.merges, running, partial)
                for counter in counters.values():
                    counter.add(batch)
                rows += batch.height
            row = dict(running or {})
            for key, counter in counters.items():
                row[key] = rows - counter.count()
        return row

    def _counter(self, batches: Batches, columns: tuple[str, ...], folder: Path) -> DistinctCounter:
        key_bytes = max(sum(batches.column_bytes.get(c, 8.0) for c in columns), 1.0)
        share = self.budget / PARTITION_SHARE
        partitions = max(1, math.ceil(batches.rows * key_bytes / share))
        limit = max(int(share / key_bytes), MIN_ROWS)
        return DistinctCounter(columns, partitions, folder, limit)

    def sample(
        self, dataset: Dataset, numeric: list[str], categorical: list[str]
    ) -> ReferenceSample:
        """The rows of the reference sample (as the one-pass path takes them), batch by batch."""
        import polars as pl

        exprs = sample_exprs(numeric, categorical)
        batches = Batches.of(dataset, [*numeric, *categorical], self.budget)
        step = sample_step(batches.rows)
        # The sample grows beside the batches, and is whole twice while its parts are joined:
        # the batches get what is left of the budget (a quarter of it at least).
        held = 2 * math.ceil(batches.rows / step) * sum(batches.column_bytes.values())
        batches = batches.within(max(self.budget - held, self.budget / 4))
        parts = []
        for offset, batch in batches:
            first = (-offset) % step
            if first < batch.height:
                parts.append(batch.gather_every(step, offset=first).select(exprs))
        frame = pl.concat(parts, how="vertical") if parts else batch.select(exprs)
        return ReferenceSample(frame, whole=step == 1)

    def small_copy(self, dataset: Dataset, columns: list[str]) -> Dataset | None:
        """``None``: under a budget the current data is read in batches, counts included."""
        return None
