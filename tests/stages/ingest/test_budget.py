"""``memory_budget`` bounds the peak resident memory of an ingest run, measured as the stage
process's own high-water mark (see ``peak.py``) reading a real PostgreSQL table and real files
several times larger than the budget. The bound asserted is what a 10-row run of the same source
peaks at in the same environment, plus the budget and a stated slack; the same data read without
a budget is checked to go over it, so the bound is not met by chance. The stated footprints
(``FIXED_FOOTPRINT``, ``FILE_FOOTPRINT``) are checked against the 10-row runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lockgate.stages.ingest.budget import FILE_FOOTPRINT, FIXED_FOOTPRINT, plan
from lockgate.stages.ingest.config import IngestConfigError, Step, parse_ingest_config
from lockgate.stages.ingest.transform import TransformError
from tests.stages.ingest.conftest import postgres_source, stage_context
from tests.stages.ingest.peak import run_measured
from tests.stages.ingest.test_read_postgres import read_all

BUDGET_MIB = 16
# What a budgeted run may add above a 10-row run of the same source in the same environment: the
# budget, plus allocator slack and one chunk's decode buffers (measured up to 34 MiB in all at a
# 16 MiB budget). The baseline is measured, not assumed: it differs by interpreter build.
SLACK_MIB = 24
ROWS = 200_000  # ~260 bytes a row: about 50 MiB in Arrow, three times the budget


def _table(pg: Any, name: str, rows: int) -> None:
    pg.execute(f"CREATE TABLE t.{name} (id bigint, x double precision, n bigint, s text, u text)")
    pg.execute(
        f"INSERT INTO t.{name} SELECT g, g * 1.5, g * 7, "
        "md5(g::text) || md5((g + 1)::text) || md5((g + 2)::text), repeat(md5(g::text), 4) "
        f"FROM generate_series(1, {rows}) g"
    )


def test_a_postgres_table_larger_than_the_budget_stays_under_it(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    _table(pg, "big", ROWS)
    _table(pg, "tiny", 10)
    tiny = run_measured(
        stage_context(
            tmp_path / "tiny", {"source": {"postgres": postgres_source(pg_cluster, table="t.tiny")}}
        )
    )
    assert tiny.code == 0, tiny.stderr
    assert tiny.peak_mib < FIXED_FOOTPRINT / 2**20, "the stated fixed footprint is too low"

    src = {"postgres": postgres_source(pg_cluster, table="t.big")}
    budgeted_ctx = stage_context(
        tmp_path / "b", {"source": src, "memory_budget": f"{BUDGET_MIB}MiB"}
    )
    budgeted = run_measured(budgeted_ctx)
    assert budgeted.code == 0, budgeted.stderr
    free = run_measured(stage_context(tmp_path / "free", {"source": src}))
    assert free.code == 0, free.stderr

    limit = tiny.peak_mib + BUDGET_MIB + SLACK_MIB
    assert budgeted.peak_mib < limit, (budgeted.peak_mib, tiny.peak_mib)
    assert free.peak_mib > limit, "the table is not larger than the budget: the test proves nothing"
    data, manifest = read_all(budgeted_ctx.out)
    assert manifest["rows"] == ROWS and data.height == ROWS
    assert data["id"].sort().to_list() == list(range(1, ROWS + 1))
    assert len(manifest["files"]) > 1  # written in parts no larger than a chunk


@pytest.mark.parametrize("mode", ["stream", "batch"])
def test_a_read_past_a_watermark_sizes_its_micro_batches_from_the_row_width(
    pg: Any, pg_cluster: Any, tmp_path: Path, mode: str
) -> None:
    """In both modes: without a budget, ``mode: batch`` would hold every new row at once."""
    rows = 100_000  # about 25 MiB
    _table(pg, "big", rows)
    _table(pg, "tiny", 10)
    tiny = run_measured(
        stage_context(
            tmp_path / "tiny", {"source": {"postgres": postgres_source(pg_cluster, table="t.tiny")}}
        )
    )
    assert tiny.code == 0, tiny.stderr
    src = {"postgres": postgres_source(pg_cluster, table="t.big")}
    with_ = {
        "source": src,
        "incremental": {"watermark": "id"},
        "mode": mode,
        "batch": {"max_rows": 10_000_000},  # no row limit: only the budget bounds a batch
        "memory_budget": f"{BUDGET_MIB}MiB",
    }
    ctx = stage_context(tmp_path, with_)
    measured = run_measured(ctx)
    assert measured.code == 0, measured.stderr
    assert measured.peak_mib < tiny.peak_mib + BUDGET_MIB + SLACK_MIB
    data, manifest = read_all(ctx.out)
    assert data["id"].sort().to_list() == list(range(1, rows + 1))  # each row once
    # 2 MiB chunks of ~260-byte rows: about 8,000 rows a micro-batch after the 1,000-row probe
    assert 8 < len(manifest["files"]) < 40


def test_rows_that_share_one_watermark_value_stay_under_the_budget_with_a_tiebreaker(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    """Every row has the same watermark value. With a tiebreaker the rows are split into
    micro-batches of the budget's size; without one they are one batch, which goes over the
    same bound and says why."""
    _table(pg, "tied", ROWS)
    pg.execute("ALTER TABLE t.tied ADD COLUMN day date NOT NULL DEFAULT '2024-05-01'")
    pg.execute("CREATE UNIQUE INDEX ON t.tied (day, id)")
    _table(pg, "tiny", 10)
    tiny = run_measured(
        stage_context(
            tmp_path / "tiny", {"source": {"postgres": postgres_source(pg_cluster, table="t.tiny")}}
        )
    )
    assert tiny.code == 0, tiny.stderr
    with_: dict[str, Any] = {
        "source": {"postgres": postgres_source(pg_cluster, table="t.tied")},
        "incremental": {"watermark": "day", "tiebreaker": "id"},
        "mode": "stream",
        "batch": {"max_rows": 10_000_000},  # no row limit: only the budget bounds a batch
        "memory_budget": f"{BUDGET_MIB}MiB",
    }
    split_ctx = stage_context(tmp_path / "split", with_)
    split = run_measured(split_ctx)
    assert split.code == 0, split.stderr
    untied = run_measured(
        stage_context(tmp_path / "untied", {**with_, "incremental": {"watermark": "day"}})
    )
    assert untied.code == 0, untied.stderr

    limit = tiny.peak_mib + BUDGET_MIB + SLACK_MIB
    assert split.peak_mib < limit, (split.peak_mib, tiny.peak_mib)
    assert untied.peak_mib > limit, "one watermark value's rows fit the budget: proves nothing"
    assert "because 200,000 rows share watermark value datetime.date(2024, 5, 1)" in untied.stderr
    assert "share watermark" not in split.stderr
    data, manifest = read_all(split_ctx.out)
    assert data["id"].sort().to_list() == list(range(1, ROWS + 1))  # each row once
    assert 8 < len(manifest["files"]) < 80  # about 8,000 rows a micro-batch


def _file(folder: Path, fmt: str, rows: int) -> None:
    import polars as pl

    n = pl.int_range(rows, dtype=pl.Int64)
    frame = pl.select(
        id=n,
        x=n * 0.5,
        s=pl.concat_str([pl.lit("r"), *[n.cast(pl.String).str.zfill(32)] * 3]),
        day=pl.lit("2024-05-01"),
    )
    path = folder / f"rows.{fmt}"
    {"csv": frame.write_csv, "parquet": frame.write_parquet, "jsonl": frame.write_ndjson}[fmt](path)


def test_a_file_run_costs_less_than_the_stated_file_footprint(tmp_path: Path) -> None:
    ctx = stage_context(tmp_path, {"source": {"files": {"path": "rows.csv"}}})
    _file(ctx.workspace, "csv", 10)
    tiny = run_measured(ctx)
    assert tiny.code == 0, tiny.stderr
    assert tiny.peak_mib < FILE_FOOTPRINT / 2**20, "the stated file footprint is too low"


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_a_file_larger_than_the_budget_stays_under_it(tmp_path: Path, fmt: str) -> None:
    free = stage_context(tmp_path, {"source": {"files": {"path": f"rows.{fmt}"}}})
    budgeted = stage_context(tmp_path, {**free.with_, "memory_budget": f"{BUDGET_MIB}MiB"}, run="2")
    _file(free.workspace, fmt, 400_000)  # ~125 bytes a row: about 48 MiB in memory
    small = stage_context(tmp_path / "small", {"source": {"files": {"path": f"rows.{fmt}"}}})
    _file(small.workspace, fmt, 10)
    tiny = run_measured(small)
    assert tiny.code == 0, tiny.stderr
    limit = tiny.peak_mib + BUDGET_MIB + SLACK_MIB
    measured = run_measured(budgeted)
    assert measured.code == 0, measured.stderr
    unbounded = run_measured(free)
    assert unbounded.code == 0, unbounded.stderr
    assert measured.peak_mib < limit, (measured.peak_mib, tiny.peak_mib)
    assert unbounded.peak_mib > limit, "the file is not larger than the budget"
    data, manifest = read_all(budgeted.out)
    whole, _ = read_all(free.out)
    assert len(manifest["files"]) > 4
    assert data.equals(whole)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("lots", "with.memory_budget: 'lots' is not a size like 256MiB"),
        ("4MiB", "with.memory_budget: '4MiB' is below the smallest budget, 16MiB"),
        ("-5MiB", "with.memory_budget: '-5MiB' is not a size"),
        (3.5, "with.memory_budget: 3.5 is not a size like 256MiB"),
    ],
)
def test_a_budget_that_is_not_a_size_is_refused_naming_the_field(value: str, expected: str) -> None:
    with pytest.raises(IngestConfigError) as caught:
        parse_ingest_config({"source": {"files": {"path": "x.csv"}}, "memory_budget": value})
    assert expected in str(caught.value)


def test_sizes_in_either_unit_are_read() -> None:
    cfg = parse_ingest_config({"source": {"files": {"path": "x.csv"}}, "memory_budget": "1.5GiB"})
    assert cfg.memory_budget_bytes == 3 * 2**29
    cfg = parse_ingest_config({"source": {"files": {"path": "x.csv"}}, "memory_budget": "64 MB"})
    assert cfg.memory_budget_bytes == 64_000_000


def test_a_join_whose_reference_table_does_not_fit_is_refused_before_reading(
    tmp_path: Path,
) -> None:
    import polars as pl

    ref = tmp_path / "ref.parquet"
    pl.DataFrame(
        {"k": range(400_000), "label": [f"{i:040d}" for i in range(400_000)]}
    ).write_parquet(ref)
    steps = (Step.model_validate({"join": {"table": "ref.parquet", "on": "k"}}),)
    with pytest.raises(TransformError) as caught:
        plan(32 * 2**20, steps, lambda p: tmp_path / p)
    message = str(caught.value)
    assert message.startswith("with.transform[0].join: the reference table ref.parquet takes about")
    assert "at most half of memory_budget (32 MiB)" in message
    fits = plan(256 * 2**20, steps, lambda p: tmp_path / p)
    assert fits.chunk_bytes < 256 * 2**20 // 8  # the table's share is taken off every chunk


def test_the_refused_join_stops_the_stage_before_anything_is_written(tmp_path: Path) -> None:
    import polars as pl

    from lockgate.stages.ingest import main

    ctx = stage_context(
        tmp_path,
        {
            "source": {"files": {"path": "rows.csv"}},
            "transform": [{"filter": "k > 0"}, {"join": {"table": "ref.csv", "on": "k"}}],
            "memory_budget": "16MiB",
        },
    )
    (ctx.workspace / "rows.csv").write_text("k,v\n1,2\n")
    pl.DataFrame({"k": range(300_000), "label": ["x" * 40] * 300_000}).write_csv(
        ctx.workspace / "ref.csv"
    )
    with pytest.raises(TransformError, match=r"with\.transform\[1\]\.join: "):
        main(ctx)
    assert not (ctx.out / "data").exists() or not any((ctx.out / "data").iterdir())


def test_a_join_under_a_budget_joins_every_chunk_and_gives_the_unbudgeted_rows(
    tmp_path: Path,
) -> None:
    import polars as pl

    from lockgate.stages.ingest import main

    with_: dict[str, Any] = {
        "source": {"files": {"path": "rows.csv"}},
        "transform": [
            {"join": {"table": "ref.csv", "on": "k", "how": "inner"}},
            {"derive": {"total": "v * factor"}},
        ],
    }
    free = stage_context(tmp_path, with_)
    budgeted = stage_context(tmp_path, {**with_, "memory_budget": "16MiB"}, run="2")
    n = 200_000  # about 8 MiB of CSV: several 2 MiB chunks
    rows = {"k": [i % 1000 for i in range(n)], "v": range(n), "s": [f"{i:030d}" for i in range(n)]}
    pl.DataFrame(rows).write_csv(free.workspace / "rows.csv")
    ref = pl.DataFrame({"k": range(0, 1000, 2), "factor": [0.5] * 500})
    ref.write_csv(free.workspace / "ref.csv")
    assert main(free) == 0
    assert main(budgeted) == 0
    want, _ = read_all(free.out)
    got, manifest = read_all(budgeted.out)
    assert len(manifest["files"]) > 2
    assert got.sort("v").equals(want.sort("v"))  # a join keeps no row order
    assert got.height == n // 2
