"""The ``transform:`` steps of an ingest stage, as one lazy Polars query.

Expressions are SQL (``price * qty``, ``amount > 0 AND country = 'FR'``) parsed by Polars; a
join's reference table is scanned lazily. Nothing runs until the batch is collected; a step that
names a missing column fails then, and the error names the step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.errors import LockgateError
from lockgate.stages.ingest.config import Step

if TYPE_CHECKING:
    import polars as pl


class TransformError(LockgateError):
    """A transform step cannot be applied."""


def _reference(path: Path) -> pl.LazyFrame:
    import polars as pl

    suffix = path.suffix.lower()
    if not path.is_file():
        raise FileNotFoundError(f"no reference table at {path}")
    if suffix in (".csv",):
        return pl.scan_csv(path, try_parse_dates=True)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return pl.scan_ndjson(path)
    return pl.scan_parquet(path)


def _apply(
    lf: pl.LazyFrame,
    step: Step,
    resolve: Callable[[str], Path],
    held: dict[str, pl.DataFrame] | None,
) -> pl.LazyFrame:
    import polars as pl

    if step.select is not None:
        return lf.select(list(step.select))
    if step.drop is not None:
        return lf.drop(list(step.drop))
    if step.rename is not None:
        return lf.rename(dict(step.rename))
    if step.filter is not None:
        return lf.filter(pl.sql_expr(step.filter))
    if step.derive is not None:
        return lf.with_columns(pl.sql_expr(expr).alias(name) for name, expr in step.derive.items())
    join = step.join
    assert join is not None  # Step guarantees exactly one key
    on = [join.on] if isinstance(join.on, str) else list(join.on)
    if held is None:
        return lf.join(_reference(resolve(join.table)), on=on, how=join.how)
    if join.table not in held:  # read once, then joined with every chunk
        held[join.table] = _reference(resolve(join.table)).collect()
    return lf.join(held[join.table].lazy(), on=on, how=join.how)


def apply_steps(
    lf: pl.LazyFrame,
    steps: Sequence[Step],
    resolve: Callable[[str], Path],
    held: dict[str, pl.DataFrame] | None = None,
) -> pl.LazyFrame:
    """Chain the steps lazily, checking each against the schema as it goes. With ``held``,
    reference tables are read into it once and reused (a run under ``memory_budget``, whose
    budget counts them, joins each of its many chunks with them)."""
    import polars as pl

    for i, step in enumerate(steps):
        try:
            lf = _apply(lf, step, resolve, held)
            lf.collect_schema()
        except (pl.exceptions.PolarsError, FileNotFoundError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TransformError(f"with.transform[{i}].{step.kind}: {first}") from None
    return lf
