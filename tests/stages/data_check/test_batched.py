"""The batched path (``memory_budget``) gives the verdicts and numbers of the one-pass path.

The same broken dataset (every check kind has something to find) is judged by both
evaluations; the batched one runs with a budget far below the data, so it reads dozens of
batches and counts unique keys through hash partitions on disk.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from lockgate.stages.data_check import main
from lockgate.stages.data_check.batched import BatchedEvaluation, Batches
from lockgate.stages.data_check.check import DataCheck
from lockgate.stages.data_check.evaluation import Evaluation, InMemoryEvaluation
from lockgate.stages.data_check.outcome import DataCheckOutcome
from lockgate.stages.data_check.source import locate
from lockgate.stages.data_check.spec import parse_spec
from lockgate.stages.data_check.watermark import WatermarkStore
from tests.stages.data_check.conftest import BASE_WITH, NOW, context, make_frame

ROWS = 30_000
TINY = 2**20  # below what the spec accepts: forces many batches and uniqueness partitions


def _broken(rows: int) -> Any:
    """Nulls, out-of-range values, a new category, bad e-mails, duplicates, a shifted column."""
    import polars as pl

    df = make_frame(1, rows)
    df = df.with_columns(
        pl.when(pl.col("id") % 97 == 0).then(None).otherwise(pl.col("age")).alias("age"),
        pl.when(pl.col("id") % 1000 == 3).then(-5).otherwise(pl.col("income")).alias("income"),
        pl.when(pl.col("id") % 7 == 0).then(pl.lit("XX")).otherwise("country").alias("country"),
        pl.when(pl.col("id") % 501 == 0)
        .then(pl.format("bad-{}", "id"))
        .otherwise("email")
        .alias("email"),
        pl.col("score") + 0.4,
    )
    dupes = df.filter(pl.col("id") % 977 == 1)
    nulls = df.head(3).with_columns(pl.lit(None, dtype=pl.Int64).alias("id"))
    return pl.concat([df, dupes, nulls])


WITH: dict[str, Any] = copy.deepcopy(BASE_WITH)
WITH["columns"]["id"]["nullable"] = False
WITH["columns"]["income"]["max"] = 1e6
WITH["columns"]["email"]["pii"] = True
WITH["rows"] = {"min": 1000, "max": ROWS}


def _run(workspace: Path, evaluation: Evaluation, fmt: str = "parquet") -> DataCheckOutcome:
    data = workspace / "data"
    if not (data / f"current.{fmt}").exists():
        frames = {"current": _broken(ROWS), "reference": make_frame(2, ROWS)}
        for name, frame in frames.items():
            if fmt == "csv":
                frame.write_csv(data / f"{name}.csv")
            else:
                frame.write_parquet(data / f"{name}.parquet", row_group_size=7_000)
    with_ = {**WITH, "data": f"data/current.{fmt}", "reference": f"data/reference.{fmt}"}
    ctx = context(workspace, with_)
    store = WatermarkStore.for_stage(ctx.state, ctx.stage)
    return DataCheck(parse_spec(with_), ctx.resolve, store, NOW, evaluation).run()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_batched_and_one_pass_agree_on_every_check(workspace: Path, fmt: str) -> None:
    one_pass = _run(workspace, InMemoryEvaluation(), fmt).as_json()
    batched = _run(workspace, BatchedEvaluation(TINY), fmt).as_json()
    failed = {(c["name"], c["column"]) for c in one_pass["checks"] if c["verdict"] == "fail"}
    assert failed == {
        ("not_null", "id"),
        ("max_null_fraction", "age"),
        ("min", "income"),
        ("allowed", "country"),
        ("regex", "email"),
        ("unique", "id"),
        ("unique", "email,country"),
        ("rows_max", None),
        ("drifted_columns", None),
    }
    kinds = {c["name"] for c in one_pass["checks"]}
    assert {"max", "freshness", "pii_email", "drift_psi", "drift_wasserstein", "drift_js"} <= kinds
    assert len(batched["checks"]) == len(one_pass["checks"])
    for mine, theirs in zip(batched["checks"], one_pass["checks"], strict=True):
        assert _same(mine, theirs), (mine, theirs)
    assert _same(batched["drift"], one_pass["drift"])
    assert batched["drifted_columns"] == one_pass["drifted_columns"] == ["score"]
    assert batched["pii_detected"] == one_pass["pii_detected"] == ["email"]
    assert batched["rows"] == one_pass["rows"] == ROWS + 31 + 3


def test_tiny_budget_really_batches_and_partitions(workspace: Path) -> None:
    _run(workspace, InMemoryEvaluation())
    data = locate("data/current.parquet", context(workspace, WITH).resolve, None, "data")
    batches = Batches.of(data, ["id", "email", "country"], TINY)
    assert 1_000 <= batches.batch_rows < ROWS // 5
    assert len(list(batches)) > 5
    evaluation = BatchedEvaluation(TINY)
    assert evaluation._counter(batches, ("email", "country"), workspace).partitions > 1


def test_memory_budget_in_the_spec_selects_the_batched_path(workspace: Path) -> None:
    _run(workspace, InMemoryEvaluation())
    outs = []
    for budget in (None, "64MiB"):
        with_ = {**WITH, "data": "data/current.parquet", "reference": "data/reference.parquet"}
        ctx = context(workspace, {**with_, "memory_budget": budget}, stage=f"s{len(outs)}")
        ctx = type(ctx)(**{**ctx.__dict__, "out": ctx.out / str(len(outs))})
        assert main(ctx) == 1
        outs.append(json.loads((ctx.out / "metrics.json").read_text()))
    assert _same(outs[0], outs[1])
