"""Bin edges of the numeric drift columns, from a bounded sample of the reference.

The sample holds every k-th row of the reference (at most :data:`SAMPLE_ROWS` rows). Each
column's finite values are sorted once; the edges are quantiles of that sorted copy, read by
index (numpy's ``linear`` method, the same floats ``np.quantile`` gives, without the copy and
the selection ``np.quantile`` does again over sorted data). When the sample is the whole
reference (k = 1), the counts at or below every edge are read off the same sorted copy by
binary search, and its number of values, smallest and largest off its length and ends (a
:class:`Tally`), so the reference pass does not compute them again, one comparison per edge and
row. Current data no larger than the sample is tallied the same way, from sorted copies of its
columns (see :meth:`~.evaluation.InMemoryEvaluation.small_copy`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import polars as pl

T = TypeVar("T")

FINE_BINS = 100
SAMPLE_ROWS = 200_000


@dataclass(frozen=True)
class Tally:
    """What a column's sorted values (nulls and NaN left out) give its drift without a pass:
    the count at or below each fine edge, the number of values, the smallest and the largest
    (``None`` when there are no values), as the pass's sums, count, min and max would; and how
    many NaN the column holds (none: its pass need not turn NaN into nulls first)."""

    at_or_below: tuple[int, ...]
    n: int
    low: float | None
    high: float | None
    nans: int = 0


@dataclass(frozen=True)
class Edges:
    """Bin edges of one numeric column: ``fine`` for Wasserstein/KS, ``coarse`` for PSI.

    ``reference``: the reference's :class:`Tally` over the ``fine`` edges, when the sample that
    gave the edges was the whole reference; ``None`` when the reference pass counts them."""

    fine: tuple[float, ...]
    coarse: tuple[float, ...]
    reference: Tally | None = None


@dataclass(frozen=True)
class ReferenceSample:
    """The sampled rows of the reference, and whether they are all of its rows."""

    frame: pl.DataFrame
    whole: bool


def sample_step(rows: int) -> int:
    """Every how many rows the reference is sampled (at most ``SAMPLE_ROWS`` rows kept)."""
    return max(1, math.ceil(rows / SAMPLE_ROWS))


def sample_exprs(numeric: list[str], categorical: list[str]) -> list[pl.Expr]:
    import polars as pl

    return [pl.col(c).cast(pl.Float64) for c in numeric] + [
        pl.col(c).cast(pl.String) for c in categorical
    ]


def sorted_quantiles(ordered: Any, q: Any) -> Any:
    """``np.quantile(ordered, q)`` (method ``linear``) of an ascending array without NaN.

    The index arithmetic and the interpolation are numpy's own steps, so each value is the same
    float; a test holds it to ``np.quantile`` bit for bit."""
    import numpy as np

    n = len(ordered)
    virtual = (n - 1) * np.asarray(q, dtype="float64")
    previous = np.floor(virtual)
    following = previous + 1
    last = virtual >= n - 1
    previous[last] = -1
    following[last] = -1
    low, high = previous.astype(np.intp), following.astype(np.intp)
    gamma = virtual - low
    a, b = ordered[low], ordered[high]
    with np.errstate(invalid="ignore"):  # inf - inf between two infinite neighbours: NaN
        diff = b - a
        out = a + diff * gamma
        np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


def quantile_edges(ordered: Any, *counts: int) -> list[tuple[float, ...]]:
    """The distinct quantiles of sorted ``ordered`` splitting it into each of ``counts`` equal
    bins."""
    import numpy as np

    if len(ordered) == 0:
        return [() for _ in counts]
    out = []
    for count in counts:
        found = sorted_quantiles(ordered, np.linspace(0, 1, count + 1))
        out.append(tuple(float(v) for v in np.unique(found)))
    return out


def each_sorted_column(
    frame: pl.DataFrame, names: Sequence[str], reduce: Callable[[str, Any, int], T]
) -> dict[str, T]:
    """``reduce(name, values, nans)`` for each column, ``values`` its Float64 values without
    nulls and NaN, ascending, as a numpy array, and ``nans`` the number of NaN left out.

    Only as many sorted columns exist at once as there are threads (as many as Polars uses;
    ``sort`` releases the GIL), each a sorted copy of the column as it is in the frame (no
    filtered copy first: NaN sorts last and is cut off the end): the result of ``reduce`` is
    kept, the column is not, so the sort's memory is a few columns, not all of them (under
    ``memory_budget`` the sample's columns would otherwise add up beside it)."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import polars as pl

    def one(name: str) -> T:
        series = frame[name]
        if series.dtype != pl.Float64:
            series = series.cast(pl.Float64)
        if series.null_count():
            series = series.drop_nulls()
        values = series.to_numpy(writable=True)  # one copy, whether the column is in parts
        values.sort()  # NaN sorts after every number, inf included: cut off the end
        total = len(values)
        if total and math.isnan(values[-1]):
            values = values[: int(np.searchsorted(values, math.nan, side="left"))]
        return reduce(name, values, total - len(values))

    workers = min(pl.thread_pool_size(), len(names))
    if workers < 2:
        return {n: one(n) for n in names}
    with ThreadPoolExecutor(workers) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def counts_at_or_below(ordered: Any, edges: Sequence[float]) -> tuple[int, ...]:
    """How many of the ascending ``ordered`` values lie at or below each edge: the sums the
    scan would take (``value <= edge`` over the non-null, non-NaN values), by binary search."""
    import numpy as np

    found = np.searchsorted(ordered, np.asarray(edges, dtype="float64"), side="right")
    return tuple(int(c) for c in found)


def tally(ordered: Any, edges: Sequence[float], nans: int = 0) -> Tally:
    """The :class:`Tally` of ascending ``ordered`` values (no nulls, no NaN: ``nans`` of them
    were left out) over ``edges``."""
    if len(ordered) == 0:
        return Tally(tuple(0 for _ in edges), 0, None, None, nans)
    low, high = float(ordered[0]), float(ordered[-1])
    return Tally(counts_at_or_below(ordered, edges), len(ordered), low, high, nans)


def column_edges(ordered: Any, bins: int, *, whole: bool, nans: int = 0) -> Edges:
    """The edges of one sampled column from its ascending values without nulls and NaN (and
    its tally over them when ``whole``; ``nans``: how many NaN were left out)."""
    coarse, fine = quantile_edges(ordered, bins, FINE_BINS)
    merged = tuple(sorted(set(fine) | set(coarse)))
    return Edges(merged, coarse, tally(ordered, merged, nans) if whole else None)
