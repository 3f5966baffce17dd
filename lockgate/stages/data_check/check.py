"""One data-check run: locate the data, compile the spec, evaluate, judge.

Dependencies arrive through the constructor (path resolution, the watermark store, the clock),
so tests build a :class:`DataCheck` over real files and a fixed ``now``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.stages.data_check.bins import Tally, each_sorted_column, tally
from lockgate.stages.data_check.compiler import (
    ROWS,
    ScanPlan,
    compile_checks,
    examples_plan,
    judge_from_counts,
)
from lockgate.stages.data_check.drift import (
    DriftPlan,
    add_distributions,
    drift_columns,
    measure_drift,
    plan_drift,
)
from lockgate.stages.data_check.drift_gate import drift_checks
from lockgate.stages.data_check.evaluation import Evaluation, InMemoryDataset, evaluation_for
from lockgate.stages.data_check.outcome import CheckResult, ColumnDrift, DataCheckOutcome
from lockgate.stages.data_check.pii import judge_pii, plan_pii
from lockgate.stages.data_check.schema_checks import schema_checks
from lockgate.stages.data_check.source import Dataset, DataSourceError, locate
from lockgate.stages.data_check.spec import DataCheckSpec
from lockgate.stages.data_check.watermark import WatermarkStore, new_partitions

if TYPE_CHECKING:
    import polars as pl


def _schema(dataset: Dataset) -> dict[str, pl.DataType]:
    import polars as pl

    try:
        return dict(dataset.scan().collect_schema())
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataSourceError(f"cannot read {dataset.label!r}: {first}") from None


def _small_current(
    evaluation: Evaluation, data: Dataset, plan: ScanPlan, dplan: DriftPlan
) -> tuple[Dataset, dict[str, Tally]]:
    """The current data for its pass, and the tallies of its numeric drift columns over their
    fine edges: read into memory and tallied from sorted copies when the data is small (see
    :meth:`~.evaluation.InMemoryEvaluation.small_copy`); else as it is, and no tallies (the
    pass counts them)."""
    names = list(dplan.numeric)
    wanted = sorted({*plan.columns(), *names, *dplan.categorical})
    copy = evaluation.small_copy(data, wanted) if names else None
    if copy is None:
        return data, {}
    counts = each_sorted_column(
        copy.scan().collect(),
        names,
        lambda n, ordered, nans: tally(ordered, dplan.numeric[n].fine, nans),
    )
    return copy, counts


@dataclass(frozen=True)
class DataCheck:
    spec: DataCheckSpec
    resolve: Callable[[str], Path]
    watermarks: WatermarkStore
    now: datetime
    evaluation: Evaluation | None = None  # default: from the spec (memory_budget)

    def run(self) -> DataCheckOutcome:
        spec = self.spec
        data = locate(spec.data, self.resolve, spec.format, "data")
        notes: list[str] = []
        commit_mark = None
        if spec.incremental is not None and spec.incremental.enabled:
            mark = self.watermarks.load(spec.incremental.order_by)
            fresh, commit_mark = new_partitions(data.files, data.root, mark)
            notes.append(
                f"incremental: {len(fresh)} new of {len(data.files)} partitions "
                f"(watermark {mark.key!r})"
            )
            if not fresh:
                return DataCheckOutcome(data.label, (), 0, (), notes=tuple(notes))
            data = data.with_files(fresh)
        schema = _schema(data)
        results: list[CheckResult] = schema_checks(spec, schema)
        plan = ScanPlan()
        plan.rows()
        compiled, decided = compile_checks(spec, schema, plan, self.now)
        probes = plan_pii(spec, schema, plan)
        evaluation = self.evaluation or evaluation_for(spec)
        passes = [(data, plan)]
        complete: Callable[[Mapping[str, Any]], dict[str, Any]] = dict
        drift_parts = None
        if spec.drift is not None and spec.reference is not None:
            reference = locate(spec.reference, self.resolve, spec.format, "reference")
            numeric, categorical = drift_columns(spec, schema, _schema(reference))
            sample = evaluation.sample(reference, numeric, categorical)
            dplan = plan_drift(
                sample.frame,
                numeric,
                categorical,
                spec.drift,
                explicit=spec.drift.columns is not None,
                whole=sample.whole,
            )
            # A partial sample is done with once it gave the edges: it is not kept through the
            # passes (under memory_budget it would sit beside every batch). A whole one is the
            # reference itself, read from memory below.
            kept = sample.frame if sample.whole else None
            del sample
            notes += [f"drift: {c} skipped (more than 200 categories)" for c in dplan.skipped]
            ref_plan = ScanPlan()
            ref_keys = add_distributions(ref_plan, dplan, reference=True)
            current, cur_counts = _small_current(evaluation, data, plan, dplan)
            cur_keys = add_distributions(plan, dplan, counted=cur_counts)
            complete = judge_from_counts(
                compiled, plan, {c: cur_keys[c]["counts"] for c in dplan.categorical}
            )
            if kept is not None:  # every reference row is in memory already: no second read
                reference = InMemoryDataset(
                    reference.label, reference.files, reference.format, reference.root, kept
                )
            passes = [(current, plan), (reference, ref_plan)]
            drift_parts = (dplan, ref_keys, cur_keys, cur_counts)
        found = evaluation.rows(passes)
        row = complete(found[0])
        follow = examples_plan(compiled, row)
        if follow is not None:
            row = {**row, **evaluation.rows([(data, follow)])[0]}
        results += [c.judge(row) for c in compiled] + decided
        pii_results, pii_detected = judge_pii(spec, probes, row)
        results += pii_results
        drift: list[ColumnDrift] = []
        if drift_parts is not None and spec.drift is not None:
            dplan, ref_keys, cur_keys, cur_counts = drift_parts
            drift = measure_drift(spec.drift, dplan, ref_keys, cur_keys, found[1], row, cur_counts)
            results += drift_checks(spec.drift, drift)
        outcome = DataCheckOutcome(
            data.label,
            tuple(str(f) for f in data.files),
            int(row[ROWS]),
            tuple(results),
            tuple(drift),
            pii_detected,
            tuple(notes),
        )
        if commit_mark is not None and outcome.passed:
            self.watermarks.save(commit_mark, [str(f) for f in data.files])
        return outcome
