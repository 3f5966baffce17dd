"""Ingest from a real PostgreSQL cluster: snapshots, micro-batches, schema changes, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.ingest import main
from tests.stages.ingest.conftest import postgres_source, stage_context

ROWS = 200_000


def fill(pg: Any, rows: int, start: int = 1) -> None:
    pg.execute(
        "INSERT INTO t.events SELECT g, g %% 97, g * 0.5, md5(g::text), g %% 3 = 0, "
        "timestamp '2024-01-01' + g * interval '1 second', date '2024-01-01' + (g %% 30)::int "
        "FROM generate_series(%s::bigint, %s::bigint) g",
        [start, start + rows - 1],
    )


def make_table(pg: Any, rows: int) -> None:
    pg.execute(
        "CREATE TABLE t.events (id bigint primary key, grp int, amount double precision, "
        "tag text, flag boolean, at timestamp, day date)"
    )
    fill(pg, rows)


def read_all(out: Path) -> Any:
    import polars as pl

    manifest = json.loads((out / "manifest.json").read_text())
    return pl.concat([pl.read_parquet(out / f["path"]) for f in manifest["files"]]), manifest


def test_micro_batches_equal_one_full_read(pg: Any, pg_cluster: Any, tmp_path: Path) -> None:
    make_table(pg, ROWS)
    src = postgres_source(pg_cluster, table="t.events")
    full = stage_context(tmp_path / "full", {"source": {"postgres": src}})
    assert main(full) == 0
    streamed = stage_context(
        tmp_path / "stream",
        {
            "source": {"postgres": src},
            "incremental": {"watermark": "id"},
            "mode": "stream",
            "batch": {"max_rows": ROWS // 10},
        },
    )
    assert main(streamed) == 0
    whole, _ = read_all(full.out)
    batched, manifest = read_all(streamed.out)
    assert manifest["this_run"]["batches"] == 10
    assert len(manifest["files"]) == 10
    assert whole.height == ROWS
    assert batched.sort("id").equals(whole.sort("id"))
    assert manifest["watermark"] == {"column": "id", "value": ROWS}
    assert dict(whole.schema) == dict(batched.schema)
    assert str(whole.schema["at"]).startswith("Datetime")
    assert str(whole.schema["flag"]) == "Boolean"


def test_incremental_reads_only_new_rows(pg: Any, pg_cluster: Any, tmp_path: Path) -> None:
    make_table(pg, 1000)
    with_ = {
        "source": {"postgres": postgres_source(pg_cluster, query="SELECT * FROM t.events")},
        "incremental": {"watermark": "at"},
    }
    assert main(stage_context(tmp_path, with_, "1")) == 0
    fill(pg, 500, start=1001)
    second = stage_context(tmp_path, with_, "2")
    assert main(second) == 0
    data, manifest = read_all(second.out)
    assert manifest["this_run"]["rows"] == 500
    assert data.height == 1500 and data["id"].n_unique() == 1500
    assert manifest["watermark"]["value"] == {"datetime": "2024-01-01T00:25:00"}


def test_ties_on_the_watermark_never_straddle_batches(
    pg: Any, pg_cluster: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    make_table(pg, 1000)
    with_ = {
        "source": {"postgres": postgres_source(pg_cluster, table="t.events")},
        "incremental": {"watermark": "day"},
        "mode": "stream",
        "batch": {"max_rows": 64},
    }
    ctx = stage_context(tmp_path, with_)
    assert main(ctx) == 0
    data, manifest = read_all(ctx.out)
    assert data.height == 1000 and data["id"].n_unique() == 1000
    # every part holds whole days: no day appears in two parts
    import polars as pl

    days = [
        pl.read_parquet(ctx.out / f["path"])["day"].unique().to_list() for f in manifest["files"]
    ]
    flat = [d for part in days for d in part]
    assert len(flat) == len(set(flat)) == 30
    # 33 or 34 rows a day: a 64-row bound always closes inside a day, whose rows all come along
    said = [line for line in capfd.readouterr().err.splitlines() if "share watermark" in line]
    assert len(said) == sum(f["rows"] > 64 for f in manifest["files"]) > 0
    assert re.fullmatch(
        r"ingest: a batch holds (6[5-8]) rows \(against a bound of 64 rows\) because 3[34] rows "
        r"share watermark value datetime\.date\(2024, 1, \d+\), and rows that share a value are "
        r"never split; declare incremental\.tiebreaker \(a unique column\) to split them",
        said[0],
    ), said[0]


def _tied(pg_cluster: Any, **batch: Any) -> dict[str, Any]:
    return {
        "source": {"postgres": postgres_source(pg_cluster, table="t.events")},
        "incremental": {"watermark": "day", "tiebreaker": "id"},
        "mode": "stream",
        "batch": batch,
    }


def test_a_tiebreaker_splits_rows_that_share_a_watermark_value(
    pg: Any, pg_cluster: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    make_table(pg, 1000)
    with_ = _tied(pg_cluster, max_rows=64)
    first = stage_context(tmp_path, with_, "1")
    assert main(first) == 0
    data, manifest = read_all(first.out)
    assert data.height == 1000 and data["id"].n_unique() == 1000
    sizes = [f["rows"] for f in manifest["files"]]
    assert sizes == [64] * 15 + [40]  # exactly the bound: batches end inside a day
    assert "share watermark" not in capfd.readouterr().err
    journal = json.loads((tmp_path / "state/ingest/ingest/journal.json").read_text())
    last_day = data.filter(data["day"] == data["day"].max())
    assert journal["watermark"] == {"date": str(last_day["day"][0])}
    assert journal["tiebreaker"] == last_day["id"].max()

    # rows added at the recorded watermark value with greater keys are read; older ones are not
    pg.execute(
        "INSERT INTO t.events (id, day) VALUES (2001, %s), (2002, %s), (2003, %s)",
        [last_day["day"][0], last_day["day"][0], data["day"].max()],
    )
    pg.execute("INSERT INTO t.events (id, day) VALUES (2004, date '2023-12-31')")
    second = stage_context(tmp_path, with_, "2")
    assert main(second) == 0
    data, manifest = read_all(second.out)
    assert manifest["this_run"]["rows"] == 3
    assert sorted(data["id"].to_list())[-3:] == [2001, 2002, 2003]
    assert data.height == 1003 and data["id"].n_unique() == 1003


def test_a_journal_that_stopped_inside_a_value_needs_its_tiebreaker(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    make_table(pg, 100)
    assert main(stage_context(tmp_path, _tied(pg_cluster, max_rows=10), "1")) == 0
    # a row at the recorded value past the recorded key: the value is not finished
    pg.execute("INSERT INTO t.events (id, day) SELECT 2001, max(day) FROM t.events")
    untied = {**_tied(pg_cluster), "incremental": {"watermark": "day"}}
    with pytest.raises(LockgateError) as caught:
        main(stage_context(tmp_path, untied, "2"))
    assert "no longer declares incremental.tiebreaker: declare it again" in str(caught.value)


def test_a_tiebreaker_removed_once_its_value_is_finished_resumes_after_it(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    """The journal stopped at the last row of its watermark value: nothing of that value is
    left to read, so the tiebreaker is no longer needed."""
    make_table(pg, 100)
    assert main(stage_context(tmp_path, _tied(pg_cluster, max_rows=10), "1")) == 0
    pg.execute("INSERT INTO t.events (id, day) VALUES (3001, date '2030-01-01')")
    untied = {**_tied(pg_cluster), "incremental": {"watermark": "day"}}
    second = stage_context(tmp_path, untied, "2")
    assert main(second) == 0
    data, manifest = read_all(second.out)
    assert manifest["this_run"]["rows"] == 1
    assert data.height == 101 and data["id"].n_unique() == 101


def test_a_tiebreaker_declared_later_resumes_after_the_whole_recorded_value(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    """A journal written without a tiebreaker read every row of its watermark value."""
    make_table(pg, 100)
    untied = {**_tied(pg_cluster), "incremental": {"watermark": "day"}}
    assert main(stage_context(tmp_path, untied, "1")) == 0
    pg.execute("INSERT INTO t.events (id, day) VALUES (500, date '2024-01-30'), (501, NULL)")
    pg.execute("INSERT INTO t.events (id, day) VALUES (502, date '2024-02-01')")
    second = stage_context(tmp_path, _tied(pg_cluster, max_rows=10), "2")
    assert main(second) == 0
    data, manifest = read_all(second.out)
    assert manifest["this_run"]["rows"] == 1 and 502 in data["id"].to_list()
    journal = json.loads((tmp_path / "state/ingest/ingest/journal.json").read_text())
    assert (journal["watermark"], journal["tiebreaker"]) == ({"date": "2024-02-01"}, 502)


def test_a_tiebreaker_that_is_not_a_column_is_named(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    make_table(pg, 10)
    with_ = {**_tied(pg_cluster), "incremental": {"watermark": "day", "tiebreaker": "nope"}}
    with pytest.raises(LockgateError) as caught:
        main(stage_context(tmp_path, with_))
    assert str(caught.value).startswith(
        "with.incremental.tiebreaker: column 'nope' is not in the source's columns (id, grp,"
    )


def test_a_tiebreaker_on_a_file_source_is_refused() -> None:
    from lockgate.stages.ingest.config import IngestConfigError, parse_ingest_config

    with pytest.raises(IngestConfigError) as caught:
        parse_ingest_config(
            {
                "source": {"files": {"path": "x.csv"}},
                "incremental": {"watermark": "day", "tiebreaker": "id"},
            }
        )
    assert "incremental.tiebreaker splits rows that share a watermark value in a PostgreSQL" in (
        str(caught.value)
    )


@pytest.mark.parametrize("change", ["DROP COLUMN tag", "ALTER COLUMN grp TYPE text"])
def test_column_changed_mid_stream_fails_and_keeps_watermark(
    pg: Any, pg_cluster: Any, tmp_path: Path, change: str
) -> None:
    make_table(pg, 300)
    with_ = {
        "source": {"postgres": postgres_source(pg_cluster, table="t.events")},
        "incremental": {"watermark": "id"},
        "mode": "stream",
        "batch": {"max_rows": 100},
    }
    assert main(stage_context(tmp_path, with_, "1")) == 0
    journal = tmp_path / "state" / "ingest" / "ingest" / "journal.json"
    before = journal.read_bytes()
    pg.execute(f"ALTER TABLE t.events {change}")
    pg.execute("INSERT INTO t.events (id, grp) VALUES (301, '1')")
    column = "tag" if "tag" in change else "grp"
    with pytest.raises(LockgateError, match=f"column '{column}' (was dropped|changed type)") as e:
        main(stage_context(tmp_path, with_, "2"))
    assert "watermark stays at 300" in str(e.value)
    assert journal.read_bytes() == before


def _error(tmp_path: Path, src: dict[str, Any]) -> str:
    with pytest.raises(LockgateError) as exc:
        main(stage_context(tmp_path, {"source": {"postgres": src}}))
    return str(exc.value)


def test_wrong_password_is_one_clear_error(pg_cluster: Any, tmp_path: Path) -> None:
    ctx = stage_context(tmp_path, {})
    (ctx.secrets_dir / "bad").write_text("not-the-password")
    msg = _error(tmp_path, {**postgres_source(pg_cluster, table="x"), "password": "bad"})
    assert "password authentication failed" in msg
    assert "with.source.postgres.password" in msg
    assert "not-the-password" not in msg


def test_unreachable_host_is_one_clear_error(tmp_path: Path, pg_cluster: Any) -> None:
    from tests.stages.conftest import free_port

    src = {**postgres_source(pg_cluster, table="x"), "port": free_port(), "connect_timeout": 2}
    msg = _error(tmp_path, src)
    assert "cannot connect" in msg and "check host and port" in msg


def test_tls_required_but_refused_is_one_clear_error(pg_cluster: Any, tmp_path: Path) -> None:
    msg = _error(tmp_path, postgres_source(pg_cluster, table="x", sslmode="require"))
    assert "server does not support SSL" in msg and "sslmode" in msg


def test_missing_password_secret_is_one_clear_error(pg_cluster: Any, tmp_path: Path) -> None:
    msg = _error(tmp_path, {**postgres_source(pg_cluster, table="x"), "password": "absent"})
    assert msg.startswith("secret 'absent' is not available to this stage")


def test_a_full_read_is_cut_into_bounded_chunks(pg: Any, pg_cluster: Any, tmp_path: Path) -> None:
    make_table(pg, 20_000)
    src = postgres_source(pg_cluster, query="SELECT * FROM t.events WHERE tag LIKE '%a%'")
    whole = stage_context(tmp_path / "whole", {"source": {"postgres": src}})
    chunked = stage_context(
        tmp_path / "chunked", {"source": {"postgres": src}, "batch": {"max_bytes": 200_000}}
    )
    assert main(whole) == 0 and main(chunked) == 0
    one, one_manifest = read_all(whole.out)
    many, manifest = read_all(chunked.out)
    assert len(one_manifest["files"]) == 1
    assert len(manifest["files"]) > 5  # ~1.6 MB of COPY text in chunks of 200 kB
    assert many.equals(one)  # same rows, same order
    assert 0 < one.height < 20_000  # the query's own % reached the server intact


def test_verify_full_reads_over_tls_and_refuses_a_wrong_ca(
    pg_tls_cluster: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    """A real TLS handshake: the server's certificate is checked against the given CA and the
    host name; another CA (the plain cluster's folder holds none, so a fresh one) is refused."""
    src = postgres_source(
        pg_tls_cluster,
        query="SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        sslmode="verify-full",
        sslrootcert=str(pg_tls_cluster.ca),
    )
    ctx = stage_context(tmp_path / "ok", {"source": {"postgres": src}})
    assert main(ctx) == 0
    data, _ = read_all(ctx.out)
    assert data["ssl"].to_list() == [True]
    other_ca = tmp_path / "other-ca.crt"
    import subprocess

    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=other",
            "-keyout",
            str(tmp_path / "other.key"),
            "-out",
            str(other_ca),
        ],
        check=True,
        capture_output=True,
    )
    msg = _error(tmp_path / "bad", {**src, "sslrootcert": str(other_ca)})
    assert "cannot connect" in msg and "certificate verify failed" in msg
    assert "sslrootcert" in msg
