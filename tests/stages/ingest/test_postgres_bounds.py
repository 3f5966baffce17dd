"""Batch bounds against the real server, for the column types where the value read back is not
quite the value stored: a real (float4) watermark or tiebreaker, a watermark value shared by a
uuid or an interval over max_rows, 'infinity' in a date or a timestamp; and queries that end in
a line comment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lockgate.stages.ingest import main
from lockgate.stages.ingest.postgres import SourceError
from tests.stages.ingest.conftest import postgres_source, stage_context
from tests.stages.ingest.test_read_postgres import read_all


def _journal(root: Path) -> dict[str, Any]:
    return json.loads((root / "state" / "ingest" / "ingest" / "journal.json").read_text())


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["stream", "batch"])
def test_a_real_watermark_reads_the_row_at_each_bound_and_ends(
    pg: Any, pg_cluster: Any, tmp_path: Path, mode: str
) -> None:
    """psycopg reads real 0.3 back as the double 0.3, below the stored 0.30000001192...: the
    row at a batch's bound used to fall out of it, and a stream never ended."""
    pg.execute("CREATE TABLE t.f (v real, id int)")
    pg.execute("INSERT INTO t.f VALUES (0.1, 1), (0.2, 2), (0.3, 3)")
    with_ = {
        "source": {"postgres": postgres_source(pg_cluster, table="t.f")},
        "incremental": {"watermark": "v"},
        "mode": mode,
        "batch": {"max_rows": 2},
    }
    first = stage_context(tmp_path, with_, "1")
    assert main(first) == 0
    data, manifest = read_all(first.out)
    assert sorted(data["id"].to_list()) == [1, 2, 3]
    assert manifest["watermark"]["value"] == pytest.approx(0.3)
    second = stage_context(tmp_path, with_, "2")
    assert main(second) == 0
    data, manifest = read_all(second.out)
    assert manifest["this_run"]["rows"] == 0
    assert sorted(data["id"].to_list()) == [1, 2, 3]


@pytest.mark.timeout(60)
def test_a_real_tiebreaker_reads_every_row_once(pg: Any, pg_cluster: Any, tmp_path: Path) -> None:
    pg.execute("CREATE TABLE t.f (day int, k real, id int)")
    pg.execute("INSERT INTO t.f VALUES (1, 0.1, 1), (1, 0.2, 2), (1, 0.3, 3), (1, 0.7, 4)")
    with_ = {
        "source": {"postgres": postgres_source(pg_cluster, table="t.f")},
        "incremental": {"watermark": "day", "tiebreaker": "k"},
        "mode": "stream",
        "batch": {"max_rows": 1},
    }
    ctx = stage_context(tmp_path, with_, "1")
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert sorted(data["id"].to_list()) == [1, 2, 3, 4]
    assert manifest["this_run"]["batches"] == 4
    assert _journal(tmp_path)["tiebreaker"] == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("kind", "value"),
    [("uuid", "'0190a0a0-0000-7000-8000-000000000000'"), ("interval", "'1 day'")],
)
def test_ties_over_max_rows_are_counted_for_every_watermark_type(
    pg: Any, pg_cluster: Any, tmp_path: Path, capsys: Any, kind: str, value: str
) -> None:
    """A uuid or interval watermark has no Polars literal (and arrives as text): counting
    the rows that share the batch's last value used to raise."""
    pg.execute(f"CREATE TABLE t.w (id int, w {kind})")
    pg.execute(f"INSERT INTO t.w SELECT g, {value} FROM generate_series(1, 5) g")
    with_ = {
        "source": {"postgres": postgres_source(pg_cluster, table="t.w")},
        "incremental": {"watermark": "w"},
        "mode": "stream",
        "batch": {"max_rows": 2},
    }
    ctx = stage_context(tmp_path, with_, "1")
    assert main(ctx) == 0
    data, _ = read_all(ctx.out)
    assert data.height == 5
    err = capsys.readouterr().err
    assert "a batch holds 5 rows (against a bound of 2 rows) because 5 rows share" in err


@pytest.mark.parametrize("column", ["ts", "d", "tz"])
@pytest.mark.parametrize("infinity", ["infinity", "-infinity"])
def test_infinity_in_a_date_or_timestamp_column_is_refused_in_one_line(
    pg: Any, pg_cluster: Any, tmp_path: Path, column: str, infinity: str
) -> None:
    """The driver decodes it as a far-past value that Parquet would keep as if it were real."""
    pg.execute("CREATE TABLE t.a (id int, ts timestamp, d date, tz timestamptz)")
    pg.execute("INSERT INTO t.a VALUES (1, '2024-01-01', '2024-01-01', '2024-01-01Z')")
    pg.execute(f"INSERT INTO t.a (id, {column}) VALUES (2, '{infinity}')")
    ctx = stage_context(
        tmp_path, {"source": {"postgres": postgres_source(pg_cluster, table="t.a")}}
    )
    with pytest.raises(SourceError) as err:
        main(ctx)
    assert str(err.value).endswith(
        f"(table t.a): column {column!r} holds 'infinity' or '-infinity', which a Parquet file "
        f"cannot hold; read it through with.source.postgres.query as CASE WHEN "
        f"isfinite({column}) THEN {column} END (NULL in their place), or clean those rows at "
        "the source"
    )
    assert "\n" not in str(err.value)


def test_the_far_ends_of_the_finite_range_are_read_as_they_are(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    pg.execute("CREATE TABLE t.a (id int, ts timestamp, d date)")
    pg.execute("INSERT INTO t.a VALUES (1, '4713-11-24 00:00 BC', '4713-11-24 BC')")
    pg.execute("INSERT INTO t.a VALUES (2, '9999-12-31 23:59:59', '9999-12-31')")
    ctx = stage_context(
        tmp_path, {"source": {"postgres": postgres_source(pg_cluster, table="t.a")}}
    )
    assert main(ctx) == 0
    data, _ = read_all(ctx.out)
    assert data.sort("id")["d"].dt.year().to_list() == [-4712, 9999]


@pytest.mark.parametrize("kind", ["timestamp", "date"])
def test_an_infinite_watermark_is_skipped_like_null(
    pg: Any, pg_cluster: Any, tmp_path: Path, kind: str
) -> None:
    """'infinity' has no place in the order: the row is never read past a watermark, and the
    next run starts where the finite rows ended."""
    pg.execute(f"CREATE TABLE t.a (id int, w {kind})")
    pg.execute(
        "INSERT INTO t.a VALUES (1, '2024-01-01'), (2, 'infinity'), (3, '-infinity'), "
        "(4, '2024-01-03')"
    )
    with_ = {
        "source": {"postgres": postgres_source(pg_cluster, table="t.a")},
        "incremental": {"watermark": "w"},
        "mode": "stream",
        "batch": {"max_rows": 1},
    }
    for run in ("1", "2"):
        ctx = stage_context(tmp_path, with_, run)
        assert main(ctx) == 0
        data, manifest = read_all(ctx.out)
        assert sorted(data["id"].to_list()) == [1, 4]
    assert manifest["this_run"]["rows"] == 0
    pg.execute("INSERT INTO t.a VALUES (5, '2024-01-04')")
    ctx = stage_context(tmp_path, with_, "3")
    assert main(ctx) == 0
    data, _ = read_all(ctx.out)
    assert sorted(data["id"].to_list()) == [1, 4, 5]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT id FROM t.a\n-- only the ids\n",
        "SELECT id FROM t.a -- only the ids",
        "SELECT id FROM t.a; -- only the ids",
        "SELECT id FROM t.a;\n-- only\n-- the ids\n",
        "SELECT id, '--;' AS s FROM t.a;",
    ],
)
def test_a_query_may_end_in_a_line_comment(
    pg: Any, pg_cluster: Any, tmp_path: Path, query: str
) -> None:
    pg.execute("CREATE TABLE t.a (id int)")
    pg.execute("INSERT INTO t.a VALUES (1), (2), (3)")
    for mode in ("batch", "stream"):
        with_: dict[str, Any] = {
            "source": {"postgres": postgres_source(pg_cluster, query=query)},
            "mode": mode,
        }
        if mode == "stream":
            with_["incremental"] = {"watermark": "id"}
        ctx = stage_context(tmp_path / mode, with_)
        assert main(ctx) == 0
        data, _ = read_all(ctx.out)
        assert sorted(data["id"].to_list()) == [1, 2, 3]


@pytest.mark.parametrize(
    ("after", "upto", "rows"),
    [((0.3,), (0.3,), 1), ((0.2,), (0.3,), 0), ((1, 0.3), (1, 0.3), 1)],
    ids=["no progress", "no rows", "no progress, with a tiebreaker"],
)
def test_a_batch_that_would_read_the_same_place_again_stops_in_one_line(
    after: tuple[Any, ...], upto: tuple[Any, ...], rows: int
) -> None:
    """The guard behind the fix above: a watermark type that still compared otherwise once read
    back would loop for ever; it stops instead, naming the columns."""
    import polars as pl

    from lockgate.stages.ingest.config import parse_ingest_config
    from lockgate.stages.ingest.read_postgres import _check_progress

    cfg = parse_ingest_config({"source": {"postgres": {"user": "lg", "table": "t.f"}}})
    order = ("v",) if len(upto) == 1 else ("day", "v")
    with pytest.raises(SourceError) as err:
        _check_progress(cfg.source.postgres, order, after, upto, pl.DataFrame({"v": [0.3] * rows}))
    assert str(err.value) == (
        f"postgresql://lg@127.0.0.1:5432/postgres (table t.f): the batch past {after!r} up to "
        f"{upto!r} read no new rows, though the source holds rows there: "
        f"{' and '.join(repr(c) for c in order)} does not compare the same way once read back; "
        "use a watermark column of another type (an integer or a timestamp)"
    )
