"""How a run's scan plans are evaluated: in one pass (default) or in batches under a budget.

Both strategies answer the same two questions, so :class:`~.check.DataCheck` does not care
which one runs: the value of every plan key over a dataset, and the reference sample drift
takes its bin edges from. :class:`InMemoryEvaluation` collects each plan as one ``select``
(Polars' streaming engine by default) - the fastest path, with memory that grows with the
plan's state. :class:`~.batched.BatchedEvaluation` (``memory_budget`` set) reads the input in
row slices and merges partial aggregates, with peak memory bounded by the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from lockgate.stages.data_check.bins import (
    SAMPLE_ROWS,
    ReferenceSample,
    sample_exprs,
    sample_step,
)
from lockgate.stages.data_check.compiler import ScanPlan
from lockgate.stages.data_check.source import Dataset, collect_all
from lockgate.stages.data_check.spec import DataCheckSpec

if TYPE_CHECKING:
    import polars as pl


class Evaluation(Protocol):
    def rows(self, passes: Sequence[tuple[Dataset, ScanPlan]]) -> list[dict[str, Any]]: ...

    def sample(
        self, dataset: Dataset, numeric: list[str], categorical: list[str]
    ) -> ReferenceSample: ...

    def small_copy(self, dataset: Dataset, columns: list[str]) -> Dataset | None: ...


@dataclass(frozen=True)
class InMemoryEvaluation:
    streaming: bool = True

    def rows(self, passes: Sequence[tuple[Dataset, ScanPlan]]) -> list[dict[str, Any]]:
        """Each plan's row. Passes over frames already in memory run on the in-memory engine:
        there is nothing to stream, and the same plan costs less CPU on it (a data-check pass
        over 200,000 rows x 21 columns: 47 ms against 64 ms on the streaming engine)."""
        queries = [plan.select(dataset.scan()) for dataset, plan in passes]
        label = passes[0][0].label if passes else ""
        in_memory = all(isinstance(d, InMemoryDataset) and d.frame is not None for d, _ in passes)
        frames = collect_all(queries, streaming=self.streaming and not in_memory, label=label)
        return [frame.row(0, named=True) for frame in frames]

    def sample(
        self, dataset: Dataset, numeric: list[str], categorical: list[str]
    ) -> ReferenceSample:
        import polars as pl

        reference = dataset.scan()
        rows = collect_all(
            [reference.select(pl.len())], streaming=self.streaming, label="reference"
        )
        step = sample_step(rows[0].item())
        if step > 1:
            reference = reference.with_row_index("__row").filter(pl.col("__row") % step == 0)
        query = reference.select(sample_exprs(numeric, categorical))
        frame = collect_all([query], streaming=self.streaming, label="reference")[0]
        return ReferenceSample(frame, whole=step == 1)

    def small_copy(self, dataset: Dataset, columns: list[str]) -> Dataset | None:
        """``dataset``'s ``columns`` read into memory when it is Parquet and no larger than the
        reference sample (its row count is in the file's metadata), else ``None``.

        Such data's pass then runs over the copy, and its drift counts come from sorted copies
        of its columns instead of a comparison of every value with each of ~100 bin edges."""
        import polars as pl

        if dataset.format != "parquet":
            return None
        scan = dataset.scan()
        rows = collect_all([scan.select(pl.len())], streaming=self.streaming, label=dataset.label)
        if rows[0].item() > SAMPLE_ROWS:
            return None
        query = scan.select(columns)
        frame = collect_all([query], streaming=self.streaming, label=dataset.label)[0]
        return InMemoryDataset(dataset.label, dataset.files, dataset.format, dataset.root, frame)


@dataclass(frozen=True)
class InMemoryDataset(Dataset):
    """A dataset already read into memory: its scan is over the frame."""

    frame: pl.DataFrame | None = None

    def scan(self) -> pl.LazyFrame:
        return self.frame.lazy() if self.frame is not None else super().scan()


def evaluation_for(spec: DataCheckSpec) -> Evaluation:
    """Batched when the spec sets ``memory_budget``; one pass otherwise."""
    if spec.memory_budget_bytes is not None:
        from lockgate.stages.data_check.batched import BatchedEvaluation

        return BatchedEvaluation(spec.memory_budget_bytes)
    return InMemoryEvaluation(spec.streaming)
