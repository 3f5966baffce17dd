"""The check spec compiled to Polars expressions, evaluated in one ``select`` pass.

Every value check becomes a scalar expression with a unique alias in one :class:`ScanPlan`;
PII and drift add theirs to the same plan, so the data is read once. A check is then judged
from the collected row: ``value`` against ``threshold`` with ``at_most`` or ``at_least``.

An ``allowed`` check on a column whose value counts the pass already takes (a categorical drift
column) is judged from those counts instead of an expression of its own (:func:`judge_from_counts`):
the values outside the allowed set are the same rows, and the column is hashed once, not twice.

The offending values a failed ``allowed`` or ``regex`` check shows are not in that pass:
filtering, de-duplicating and sorting a column's values does not stream (at 10M rows it more than
doubled the pass's peak memory for two such checks). The pass counts them; only when a count is
above zero does :func:`examples_plan` read the failing columns again for their first values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

from lockgate.stages.data_check.outcome import CheckResult
from lockgate.stages.data_check.partials import EXAMPLES, Merge
from lockgate.stages.data_check.schema_checks import type_names
from lockgate.stages.data_check.spec import ColumnSpec, DataCheckConfigError, DataCheckSpec

if TYPE_CHECKING:
    import polars as pl

Bound = Literal["at_most", "at_least"]
ROWS = "__rows"
EXAMPLES_KEY = "{}__examples"


@dataclass(frozen=True)
class CompiledCheck:
    name: str
    column: str | None
    key: str
    threshold: Any
    bound: Bound
    finish: Callable[[Any], tuple[Any, str]] = lambda v: (v, "")
    examples: pl.Expr | None = None  # the offending values, read only when the check fails
    allowed_text: frozenset[str] | None = None  # an ``allowed`` check over the values as text

    def judge(self, row: Mapping[str, Any]) -> CheckResult:
        value, detail = self.finish(row[self.key])
        if self.examples is not None and value:
            shown = ", ".join(repr(v) for v in row.get(EXAMPLES_KEY.format(self.key)) or ())
            detail = f"unexpected: {shown}"
        if value is None:
            return CheckResult(self.name, self.column, None, self.threshold, "pass", "no values")
        ok = value <= self.threshold if self.bound == "at_most" else value >= self.threshold
        return CheckResult(
            self.name, self.column, value, self.threshold, "pass" if ok else "fail", detail
        )


@dataclass
class ScanPlan:
    """The scalar expressions of the single pass, each under a unique alias with the rule that
    merges its per-batch values (see :mod:`~lockgate.stages.data_check.partials`), and the keys
    whose duplicates are counted (not a mergeable aggregate: see ``distinct``)."""

    exprs: dict[str, pl.Expr] = field(default_factory=dict)
    merges: dict[str, Merge] = field(default_factory=dict)
    duplicates: dict[str, tuple[str, ...]] = field(default_factory=dict)
    added: int = 0  # keys handed out, so a key is never reused after one is dropped

    def _key(self, hint: str) -> str:
        self.added += 1
        return f"{hint}_{self.added - 1}"

    def add(self, expr: pl.Expr, merge: Merge, hint: str = "a") -> str:
        key = self._key(hint)
        self.exprs[key] = expr.alias(key)
        self.merges[key] = merge
        return key

    def add_duplicates(self, columns: tuple[str, ...]) -> str:
        """The alias of the number of rows repeating an earlier row's ``columns``."""
        key = self._key("dup")
        self.duplicates[key] = columns
        return key

    def drop(self, key: str) -> None:
        """Leave ``key``'s expression out of the pass (its value comes from elsewhere)."""
        del self.exprs[key], self.merges[key]

    def rows(self) -> str:
        """The alias of the row count (added once)."""
        import polars as pl

        if ROWS not in self.exprs:
            self.exprs[ROWS] = pl.len().alias(ROWS)
            self.merges[ROWS] = "sum"
        return ROWS

    def columns(self) -> list[str]:
        """The input columns the plan reads."""
        names = {n for e in self.exprs.values() for n in e.meta.root_names()}
        names |= {n for cols in self.duplicates.values() for n in cols}
        return sorted(names)

    def select(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """The whole plan as one ``select`` (the in-memory / single-pass path)."""
        import polars as pl

        dups = [
            (pl.len() - (pl.col(c[0]) if len(c) == 1 else pl.struct(c)).n_unique()).alias(key)
            for key, c in self.duplicates.items()
        ]
        return frame.select([*self.exprs.values(), *dups])


def _check_regex(column: str, pattern: str) -> None:
    import polars as pl

    try:
        pl.select(pl.lit("").str.contains(pattern))
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataCheckConfigError(
            f"with.columns.{column}.regex: not a valid Polars (Rust) regex: {first}"
        ) from None


def _fraction(parts: Any) -> tuple[Any, str]:
    return parts["nulls"] / max(int(parts["rows"]), 1), ""


def _examples(values: pl.Expr) -> pl.Expr:
    """The first offending values in sort order: the same whether merged batch by batch."""
    return values.unique().sort().head(EXAMPLES).implode()


def _column_checks(
    plan: ScanPlan, name: str, col: ColumnSpec, dtype: pl.DataType
) -> tuple[list[CompiledCheck], list[CheckResult]]:
    import polars as pl

    c = pl.col(name)
    kinds = type_names(dtype)
    checks: list[CompiledCheck] = []
    skipped: list[CheckResult] = []
    if not col.nullable:
        checks.append(
            CompiledCheck("not_null", name, plan.add(c.null_count(), "sum"), 0, "at_most")
        )
    if col.max_null_fraction is not None:
        parts = pl.struct(c.null_count().alias("nulls"), pl.len().alias("rows"))
        key = plan.add(parts, {"nulls": "sum", "rows": "sum"})
        checks.append(
            CompiledCheck(
                "max_null_fraction", name, key, col.max_null_fraction, "at_most", _fraction
            )
        )
    for bound_name, threshold, agg, bound in (
        ("min", col.min, c.min(), "at_least"),
        ("max", col.max, c.max(), "at_most"),
    ):
        if threshold is None:
            continue
        if "number" not in kinds:
            skipped.append(
                CheckResult(
                    bound_name,
                    name,
                    None,
                    threshold,
                    "skipped",
                    f"needs a numeric column, found {dtype}",
                )
            )
            continue
        key = plan.add(agg, bound_name)
        checks.append(CompiledCheck(bound_name, name, key, threshold, bound))  # type: ignore[arg-type]
    if col.allowed is not None:
        numeric = "number" in kinds and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in col.allowed
        )
        boolean = "bool" in kinds and all(isinstance(v, bool) for v in col.allowed)
        as_text = None
        if numeric or boolean:
            target, allowed = c, pl.Series(list(col.allowed))
        else:
            as_text = frozenset(str(v) for v in col.allowed)
            target, allowed = c.cast(pl.String), pl.Series([str(v) for v in col.allowed])
        bad = target.is_not_null() & ~target.is_in(allowed.implode())
        key = plan.add(bad.sum(), "sum")
        examples = _examples(target.filter(bad))
        check = CompiledCheck("allowed", name, key, 0, "at_most", examples=examples)
        checks.append(replace(check, allowed_text=as_text))
    if col.regex is not None:
        _check_regex(name, col.regex)
        text = c.cast(pl.String)
        bad = text.is_not_null() & ~text.str.contains(f"^(?:{col.regex})$")
        key = plan.add(bad.sum(), "sum")
        examples = _examples(text.filter(bad))
        checks.append(CompiledCheck("regex", name, key, 0, "at_most", examples=examples))
    return checks, skipped


def _freshness_finish(now: datetime) -> Callable[[Any], tuple[Any, str]]:
    def finish(latest: Any) -> tuple[Any, str]:
        if latest is None:
            return None, ""
        if isinstance(latest, datetime):
            moment = latest if latest.tzinfo else latest.replace(tzinfo=UTC)
        elif isinstance(latest, date):
            moment = datetime(latest.year, latest.month, latest.day, tzinfo=UTC)
        else:
            return float("inf"), f"latest value {latest!r} is not a timestamp"
        return (now - moment).total_seconds(), f"latest {moment.isoformat()}"

    return finish


def compile_checks(
    spec: DataCheckSpec, schema: Mapping[str, pl.DataType], plan: ScanPlan, now: datetime
) -> tuple[list[CompiledCheck], list[CheckResult]]:
    """Add every value check of ``spec`` to ``plan``; return them and the skipped ones."""
    import polars as pl

    checks: list[CompiledCheck] = []
    skipped: list[CheckResult] = []
    for name, col in spec.columns.items():
        if name not in schema or (col.type and col.type not in type_names(schema[name])):
            continue  # reported by schema_checks
        more, skip = _column_checks(plan, name, col, schema[name])
        checks += more
        skipped += skip
    for key in spec.unique_keys:
        missing = [k for k in key if k not in schema]
        label = ",".join(key)
        if missing:
            skipped.append(
                CheckResult("unique", label, None, 0, "skipped", f"missing columns {missing}")
            )
            continue
        checks.append(CompiledCheck("unique", label, plan.add_duplicates(key), 0, "at_most"))
    rows_key = plan.rows()
    if spec.rows is not None:
        if spec.rows.min is not None:
            checks.append(CompiledCheck("rows_min", None, rows_key, spec.rows.min, "at_least"))
        if spec.rows.max is not None:
            checks.append(CompiledCheck("rows_max", None, rows_key, spec.rows.max, "at_most"))
    fresh = spec.freshness
    if fresh is not None:
        dtype = schema.get(fresh.column)
        if dtype is None:
            missing_result = CheckResult(
                "freshness", fresh.column, None, fresh.max_age_seconds, "fail", "column is missing"
            )
            skipped.append(missing_result)
        else:
            latest = pl.col(fresh.column)
            if dtype == pl.String:
                latest = latest.str.to_datetime(strict=False, time_zone="UTC")
            checks.append(
                CompiledCheck(
                    "freshness",
                    fresh.column,
                    plan.add(latest.max(), "max"),
                    fresh.max_age_seconds,
                    "at_most",
                    _freshness_finish(now),
                )
            )
    return checks, skipped


def judge_from_counts(
    checks: list[CompiledCheck], plan: ScanPlan, counts: Mapping[str, str]
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """Fuse the ``allowed`` checks over text whose column has value counts in ``plan``
    (``counts``: column -> the key of its counts, non-null values cast to text, as the check
    casts them): their own expressions leave the plan. Returns what completes a collected
    row with their values: the rows whose value is outside the allowed set."""
    fused = {
        c.key: (counts[c.column], c.allowed_text)
        for c in checks
        if c.allowed_text is not None and c.column is not None and c.column in counts
    }
    for key in fused:
        plan.drop(key)

    def complete(row: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for key, (counted, allowed) in fused.items():
            pairs = (pair.values() for pair in row[counted] or ())
            out[key] = sum(int(n) for value, n in pairs if str(value) not in allowed)
        return out

    return complete


def examples_plan(checks: list[CompiledCheck], row: Mapping[str, Any]) -> ScanPlan | None:
    """A second pass for the offending values of the checks that failed, or None if none did."""
    failing = [c for c in checks if c.examples is not None and row[c.key]]
    if not failing:
        return None
    plan = ScanPlan()
    for check in failing:
        key = EXAMPLES_KEY.format(check.key)
        assert check.examples is not None  # filtered above
        plan.exprs[key] = check.examples.alias(key)
        plan.merges[key] = "examples"
    return plan
