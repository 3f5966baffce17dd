"""Exactly once: the watermark advances only after a batch's parts are durable, so a SIGKILL at
any instant, then a rerun, leaves every row once (real PostgreSQL, real process kill)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from lockgate.stages.ingest import main
from tests.stages.ingest.conftest import postgres_source, stage_context, start_stage_process
from tests.stages.ingest.test_read_postgres import make_table, read_all

ROWS = 200_000


def _journal(state: Path) -> dict[str, Any]:
    path = state / "ingest" / "ingest" / "journal.json"
    return json.loads(path.read_text()) if path.exists() else {"parts": []}


def _stream(pg_cluster: Any, max_rows: int) -> dict[str, Any]:
    return {
        "source": {"postgres": postgres_source(pg_cluster, table="t.events")},
        "incremental": {"watermark": "id"},
        "mode": "stream",
        "batch": {"max_rows": max_rows},
    }


def test_sigkill_mid_stream_then_rerun_gives_every_row_once(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    make_table(pg, ROWS)
    with_ = _stream(pg_cluster, 2_000)
    ctx = stage_context(tmp_path, with_, "killed")
    log = tmp_path / "killed.log"
    proc = start_stage_process(ctx, with_, log)
    deadline = time.monotonic() + 60
    while len(_journal(ctx.state)["parts"]) < 5:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the stream committed no batches in 60 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed = len(_journal(ctx.state)["parts"])
    assert 5 <= committed < ROWS // 2_000, "the kill must land mid-stream"

    rerun = stage_context(tmp_path, with_, "rerun")
    assert main(rerun) == 0
    data, manifest = read_all(rerun.out)
    assert data.height == ROWS
    assert data["id"].n_unique() == ROWS
    assert (data["id"].min(), data["id"].max()) == (1, ROWS)
    assert manifest["this_run"]["rows"] == ROWS - committed * 2_000
    sink = ctx.state / "ingest" / "ingest" / "data"
    assert sorted(p.name for p in sink.iterdir()) == sorted(
        Path(f["path"]).name for f in manifest["files"]
    )


def test_sigkill_inside_one_watermark_value_then_rerun_gives_every_row_once(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    """All rows share one watermark value; the tiebreaker lets batches end between them, and
    the journal's (watermark, key) lets the rerun start after the last committed row."""
    make_table(pg, ROWS)
    pg.execute("UPDATE t.events SET day = date '2024-05-01'")
    pg.execute("CREATE UNIQUE INDEX ON t.events (day, id)")
    with_ = {
        **_stream(pg_cluster, 2_000),
        "incremental": {"watermark": "day", "tiebreaker": "id"},
        "memory_budget": "16MiB",
    }
    ctx = stage_context(tmp_path, with_, "killed")
    log = tmp_path / "killed.log"
    proc = start_stage_process(ctx, with_, log)
    deadline = time.monotonic() + 60
    while len(_journal(ctx.state)["parts"]) < 5:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the stream committed no batches in 60 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    journal = _journal(ctx.state)
    committed = sum(p["rows"] for p in journal["parts"])  # a 1,000-row probe, then 2,000s
    assert 5 * 1_000 <= committed < ROWS // 2, "the kill must land mid-value"
    assert journal["watermark"] == {"date": "2024-05-01"}
    assert journal["tiebreaker"] == committed  # the last committed row's key

    rerun = stage_context(tmp_path, with_, "rerun")
    assert main(rerun) == 0
    data, manifest = read_all(rerun.out)
    assert data.height == ROWS
    assert data["id"].n_unique() == ROWS
    assert (data["id"].min(), data["id"].max()) == (1, ROWS)
    assert manifest["this_run"]["rows"] == ROWS - committed
    assert "share watermark" not in log.read_text()


def test_a_part_written_but_not_journaled_is_dropped_and_read_again(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    """The crash window the kill above may or may not hit, made certain: a batch's part is on
    disk (plus a half-written temp file) but the journal never recorded it."""
    make_table(pg, 3_000)
    with_ = _stream(pg_cluster, 1_000)
    first = stage_context(tmp_path, with_, "1")
    assert main(first) == 0
    sink = tmp_path / "state" / "ingest" / "ingest"
    journal = json.loads((sink / "journal.json").read_text())
    # roll the journal back one batch, as if the process died before the journal write
    journal["parts"] = journal["parts"][:2]
    journal["next_seq"] = 3
    journal["watermark"] = 2_000
    (sink / "journal.json").write_text(json.dumps(journal))
    (sink / "data" / ".part-000004.parquet.tmp").write_bytes(b"half a part")
    second = stage_context(tmp_path, with_, "2")
    assert main(second) == 0
    data, manifest = read_all(second.out)
    assert data.height == 3_000 and data["id"].n_unique() == 3_000
    assert [Path(f["path"]).name for f in manifest["files"]] == [
        "part-000001.parquet",
        "part-000002.parquet",
        "part-000003.parquet",
    ]
    assert not (sink / "data" / ".part-000004.parquet.tmp").exists()


@pytest.mark.slow
def test_one_million_rows_in_ten_batches_equal_one_full_read(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    make_table(pg, 1_000_000)
    full = stage_context(tmp_path / "full", {"source": _stream(pg_cluster, 1)["source"]})
    assert main(full) == 0
    streamed = stage_context(tmp_path / "stream", _stream(pg_cluster, 100_000))
    assert main(streamed) == 0
    whole, _ = read_all(full.out)
    batched, manifest = read_all(streamed.out)
    assert manifest["this_run"]["batches"] == 10
    assert batched.sort("id").equals(whole.sort("id"))


@pytest.mark.timeout(120)
def test_a_second_run_while_one_is_writing_stops_in_one_line(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    """Two processes of the same stage: the second used to take the first one's parts in
    flight for a crash's leftovers and delete them. The first is held, mid-run, by a lock the
    test takes on its table; the second must stop at once, and the first then ends whole."""
    make_table(pg, 1_000)
    with_ = _stream(pg_cluster, 100)
    pg.execute("BEGIN")
    pg.execute("LOCK TABLE t.events IN ACCESS EXCLUSIVE MODE")
    first = start_stage_process(stage_context(tmp_path, with_, "1"), with_, tmp_path / "1.log")
    try:
        deadline = time.monotonic() + 30
        while True:  # until the first run waits for the table: it holds the dataset by then
            waiting = psycopg_count(
                pg_cluster,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                "'lockgate-ingest' AND wait_event_type = 'Lock'",
            )
            if waiting:
                break
            assert first.poll() is None, (tmp_path / "1.log").read_text()
            assert time.monotonic() < deadline, "the first run never reached the table"
            time.sleep(0.05)
        second_ctx = stage_context(tmp_path, with_, "2")
        second = start_stage_process(second_ctx, with_, tmp_path / "2.log")
        try:
            assert second.wait(timeout=30) != 0
        finally:
            second.kill()
        err = (tmp_path / "2.log").read_text()
        folder = tmp_path / "state" / "ingest" / "ingest"
        assert (
            f"{folder}: another run of this ingest stage is writing its dataset; wait for it "
            "to finish, then run the stage again"
        ) in err
        assert "Traceback" not in err and "pg-password" not in err
    finally:
        pg.execute("COMMIT")
    assert first.wait(timeout=60) == 0, (tmp_path / "1.log").read_text()
    rerun = stage_context(tmp_path, with_, "3")
    assert main(rerun) == 0
    data, manifest = read_all(rerun.out)
    assert sorted(data["id"].to_list()) == list(range(1, 1_001))
    assert manifest["this_run"]["rows"] == 0


def psycopg_count(cluster: Any, sql: str) -> int:
    import psycopg

    with psycopg.connect(cluster.conninfo, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0
