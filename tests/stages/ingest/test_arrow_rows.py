"""The row connection (ADBC) against a real PostgreSQL: it reads inside the control connection's
snapshot, maps every column type the stage promises, and fails with the stage's own errors."""

from __future__ import annotations

import datetime as dt
import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from lockgate.stages.ingest import main
from lockgate.stages.ingest.config import parse_ingest_config
from lockgate.stages.ingest.journal import Journal
from lockgate.stages.ingest.postgres import SourceError
from lockgate.stages.ingest.read_postgres import postgres_batches
from tests.pgcluster import PASSWORD
from tests.stages.ingest.conftest import postgres_source, stage_context
from tests.stages.ingest.test_read_postgres import make_table, read_all


def test_rows_deleted_mid_stream_still_arrive_from_the_snapshot(pg: Any, pg_cluster: Any) -> None:
    """Rows deleted and added after the first batch is out change nothing: both connections
    read the snapshot taken when the run began."""
    make_table(pg, 1000)
    cfg = parse_ingest_config(
        {
            "source": {"postgres": postgres_source(pg_cluster, table="t.events")},
            "incremental": {"watermark": "id"},
            "mode": "stream",
            "batch": {"max_rows": 250},
        }
    )
    with ExitStack() as stack:
        _, _, batches = postgres_batches(cfg, lambda _: PASSWORD, Journal(), stack)
        first = next(batches)
        pg.execute("DELETE FROM t.events WHERE id > 500")
        pg.execute("INSERT INTO t.events (id, grp) VALUES (5000, 1)")
        rest = list(batches)
    ids = [i for b in (first, *rest) for i in b.frame["id"].to_list()]  # type: ignore[union-attr]
    assert ids == list(range(1, 1001))
    assert [b.watermark for b in (first, *rest)] == [250, 500, 750, 1000]


def test_every_promised_type_arrives_typed(pg: Any, pg_cluster: Any, tmp_path: Path) -> None:
    """Natively decoded types keep their type; numeric arrives as a float; anything else
    (uuid, jsonb, interval, arrays) as its text form."""
    pg.execute(
        "CREATE TABLE t.kinds (a smallint, b int, c bigint, d real, e double precision, "
        "f numeric(10,2), g text, h varchar(5), i char(3), j boolean, k date, l timestamp, "
        "m timestamptz, n uuid, o jsonb, p interval, q int[])"
    )
    pg.execute(
        "INSERT INTO t.kinds VALUES (1, 2, 3, 1.5, 2.5, 12.34, 'x', 'yz', 'ab', true, "
        "'2024-05-01', '2024-05-01 10:00:01', '2024-05-01 12:00:00+02', "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"k\": 1}', '1 day', '{1,2}')"
    )
    ctx = stage_context(
        tmp_path, {"source": {"postgres": postgres_source(pg_cluster, table="t.kinds")}}
    )
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    types = {k: str(v) for k, v in data.schema.items()}
    assert types == {
        "a": "Int16", "b": "Int32", "c": "Int64", "d": "Float32", "e": "Float64",
        "f": "Float64", "g": "String", "h": "String", "i": "String", "j": "Boolean",
        "k": "Date", "l": "Datetime(time_unit='us', time_zone=None)",
        "m": "Datetime(time_unit='us', time_zone='UTC')", "n": "String", "o": "String",
        "p": "String", "q": "String",
    }  # fmt: skip
    row = data.row(0, named=True)
    assert row["f"] == 12.34 and row["i"] == "ab " and row["j"] is True
    assert row["l"] == dt.datetime(2024, 5, 1, 10, 0, 1)
    assert row["m"] == dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)
    assert row["n"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert (row["o"], row["p"], row["q"]) == ('{"k": 1}', "1 day", "{1,2}")
    assert manifest["rows"] == 1


def test_an_empty_result_keeps_its_columns(pg: Any, pg_cluster: Any, tmp_path: Path) -> None:
    make_table(pg, 10)
    src = postgres_source(pg_cluster, query="SELECT id, tag FROM t.events WHERE id < 0")
    cfg = parse_ingest_config({"source": {"postgres": src}})
    with ExitStack() as stack:
        _, _, batches = postgres_batches(cfg, lambda _: PASSWORD, Journal(), stack)
        frames = [b.frame for b in batches]
    assert [(f.height, dict(f.schema)) for f in frames] == [  # type: ignore[union-attr]
        (0, {"id": frames[0].schema["id"], "tag": frames[0].schema["tag"]})
    ]
    assert str(frames[0].schema["id"]) == "Int64"


def test_a_query_the_server_refuses_is_one_clear_error(pg_cluster: Any, tmp_path: Path) -> None:
    src = postgres_source(
        pg_cluster, query="SELECT 1 / (g - 2) AS boom FROM generate_series(1, 3) g"
    )
    with pytest.raises(SourceError, match=r"\(query\): .*division by zero") as exc:
        main(stage_context(tmp_path, {"source": {"postgres": src}}))
    assert PASSWORD not in str(exc.value)


def test_a_password_with_quotes_spaces_and_backslashes_reaches_both_connections(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    """Both connections get libpq's keywords, each value quoted; the password shows nowhere."""
    from psycopg import sql

    password = "it's a \\ pass word"
    pg.execute("DROP ROLE IF EXISTS odd")
    pg.execute(sql.SQL("CREATE ROLE odd LOGIN PASSWORD {}").format(sql.Literal(password)))
    try:
        make_table(pg, 50)
        pg.execute("GRANT USAGE ON SCHEMA t TO odd")
        pg.execute("GRANT SELECT ON t.events TO odd")
        src = {**postgres_source(pg_cluster, table="t.events"), "user": "odd", "password": "odd"}
        ctx = stage_context(tmp_path, {"source": {"postgres": src}})
        (ctx.secrets_dir / "odd").write_text(password)
        assert main(ctx) == 0
        data, manifest = read_all(ctx.out)
        assert data.height == manifest["rows"] == 50
        assert password not in (ctx.out / "manifest.json").read_text()
    finally:
        pg.execute("DROP SCHEMA t CASCADE")
        pg.execute("CREATE SCHEMA t")
        pg.execute("DROP ROLE odd")


def test_a_run_that_reads_no_rows_still_publishes_its_columns(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    """The manifest of an empty read names the query's columns as transformed, as data-check
    and lineage read them, instead of an empty schema."""
    make_table(pg, 10)
    src = postgres_source(pg_cluster, query="SELECT id, tag FROM t.events WHERE id < 0")
    spec = {"source": {"postgres": src}, "transform": [{"derive": {"twice": "id * 2"}}]}
    ctx = stage_context(tmp_path, spec)
    assert main(ctx) == 0
    manifest = json.loads((ctx.out / "manifest.json").read_text())
    assert manifest["rows"] == 0
    assert manifest["schema"] == {"id": "Int64", "tag": "String", "twice": "Int64"}


def test_both_connections_read_in_utc_whatever_the_server_default(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    """A view whose watermark depends on the session's zone (ts::date), on a server whose
    default zone is UTC+14: the batch bounds (control connection) and the rows (row
    connection) must be computed in the same zone, or a day's rows fall between batches."""
    pg.execute("CREATE TABLE t.ev (id int, ts timestamptz)")
    pg.execute("INSERT INTO t.ev VALUES (1, '2024-01-01 12:00Z'), (2, '2024-01-02 12:00Z')")
    pg.execute("CREATE VIEW t.daily AS SELECT id, ts::date AS day, ts::text AS shown FROM t.ev")
    pg.execute("ALTER ROLE lg SET timezone = 'Pacific/Kiritimati'")
    pg.execute("ALTER ROLE lg SET datestyle = 'SQL, DMY'")
    try:
        with_ = {
            "source": {"postgres": postgres_source(pg_cluster, table="t.daily")},
            "incremental": {"watermark": "day"},
            "mode": "stream",
            "batch": {"max_rows": 1},
        }
        ctx = stage_context(tmp_path, with_, "1")
        assert main(ctx) == 0
    finally:
        pg.execute("ALTER ROLE lg RESET timezone")
        pg.execute("ALTER ROLE lg RESET datestyle")
    data, manifest = read_all(ctx.out)
    assert sorted(data["id"].to_list()) == [1, 2]
    assert sorted(data["shown"].to_list()) == ["2024-01-01 12:00:00+00", "2024-01-02 12:00:00+00"]
    assert manifest["watermark"]["value"] == {"date": "2024-01-02"}


@pytest.mark.timeout(60)
def test_a_schema_change_waiting_for_the_read_stops_it_in_one_line(
    pg: Any, pg_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ALTER TABLE that arrives after the control connection took its lock and before the row
    connection's first read: the row connection's read queues behind the ALTER, which waits for
    the control connection, and nothing ever moved again. The stage now gives up after its lock
    timeout, ends both transactions, and the migration completes. The migration is started from
    inside the real ``export`` (wrapped, not replaced) so that it lands in that window."""
    import threading
    import time

    import psycopg

    from lockgate.stages.ingest import postgres

    pg.execute("CREATE TABLE t.w (id int, v text)")
    pg.execute("INSERT INTO t.w SELECT g, 'x' FROM generate_series(1, 10) g")
    migrated = threading.Event()

    def migrate() -> None:
        with psycopg.connect(pg_cluster.conninfo, autocommit=True) as conn:
            conn.execute("ALTER TABLE t.w ADD COLUMN z int")
        migrated.set()

    export = postgres.Snapshot.export

    def export_then_migrate(self: postgres.Snapshot) -> str:
        snapshot = export(self)
        threading.Thread(target=migrate, daemon=True).start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until the ALTER waits for this transaction's lock
            waiting = pg.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'ALTER TABLE t.w%'"
            ).fetchone()
            if waiting and waiting[0]:
                break
            time.sleep(0.05)
        return snapshot

    monkeypatch.setattr(postgres.Snapshot, "export", export_then_migrate)
    with_ = {
        "source": {"postgres": postgres_source(pg_cluster, table="t.w")},
        "incremental": {"watermark": "id"},
        "mode": "stream",
    }
    with pytest.raises(SourceError) as err:
        main(stage_context(tmp_path, with_, "1"))
    assert str(err.value).endswith(
        "(table t.w): a schema change on table t.w is waiting for this read; run the stage again"
    )
    assert migrated.wait(10), "the migration is still waiting"
    monkeypatch.undo()
    ctx = stage_context(tmp_path, with_, "2")
    assert main(ctx) == 0
    data, _ = read_all(ctx.out)
    assert data.columns == ["id", "v", "z"] and data.height == 10
