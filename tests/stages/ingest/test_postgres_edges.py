"""PostgreSQL sources at their edges, against the real server: NULL watermarks, names that hold
``%`` or ``.``, watermark types beyond numbers and timestamps, statements the server refuses, and
a spec that changes what the journal's watermark means."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.ingest import main
from tests.stages.ingest.conftest import postgres_source, stage_context
from tests.stages.ingest.test_read_postgres import read_all


def _stream(pg_cluster: Any, watermark: str, **source: Any) -> dict[str, Any]:
    return {
        "source": {"postgres": postgres_source(pg_cluster, **source)},
        "incremental": {"watermark": watermark},
        "mode": "stream",
        "batch": {"max_rows": 4},
    }


def _parts(root: Path) -> list[str]:
    data = root / "state" / "ingest" / "ingest" / "data"
    return sorted(p.name for p in data.iterdir()) if data.is_dir() else []


@pytest.mark.parametrize("mode", ["stream", "batch"])
def test_rows_with_a_null_watermark_are_never_read_and_hide_no_others(
    pg: Any, pg_cluster: Any, tmp_path: Path, mode: str
) -> None:
    """NULLs sort last: a batch boundary that landed on one used to end the read with nothing."""
    pg.execute("CREATE TABLE t.n (id int, v text)")
    pg.execute("INSERT INTO t.n SELECT g, 'x' FROM generate_series(1, 5) g")
    pg.execute("INSERT INTO t.n SELECT NULL, 'y' FROM generate_series(1, 10) g")
    with_: dict[str, Any] = {**_stream(pg_cluster, "id", table="t.n"), "mode": mode}
    if mode == "batch":
        with_["memory_budget"] = "16MiB"  # batch mode, read in bounded micro-batches
    first = stage_context(tmp_path, with_, "1")
    assert main(first) == 0
    data, manifest = read_all(first.out)
    assert sorted(data["id"].to_list()) == [1, 2, 3, 4, 5]
    assert manifest["watermark"] == {"column": "id", "value": 5}
    pg.execute("INSERT INTO t.n VALUES (6, 'z'), (NULL, 'w')")
    second = stage_context(tmp_path, with_, "2")
    assert main(second) == 0
    data, manifest = read_all(second.out)
    assert manifest["this_run"]["rows"] == 1
    assert sorted(data["id"].to_list()) == [1, 2, 3, 4, 5, 6]


def test_a_full_read_takes_rows_whose_watermark_column_is_null(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    pg.execute("CREATE TABLE t.n (id int, v text)")
    pg.execute("INSERT INTO t.n VALUES (1, 'x'), (NULL, 'y')")
    ctx = stage_context(
        tmp_path, {"source": {"postgres": postgres_source(pg_cluster, table="t.n")}}
    )
    assert main(ctx) == 0
    assert read_all(ctx.out)[0].height == 2


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"table": "t.nosuch"}, 'relation "t.nosuch" does not exist'),
        ({"query": "SELEC 1"}, 'syntax error at or near "1"'),
    ],
)
def test_a_statement_the_server_refuses_is_one_clear_error(
    pg: Any, pg_cluster: Any, tmp_path: Path, source: dict[str, str], expected: str
) -> None:
    ctx = stage_context(tmp_path, {"source": {"postgres": postgres_source(pg_cluster, **source)}})
    with pytest.raises(LockgateError) as caught:
        main(ctx)
    message = str(caught.value)
    assert message.startswith(f"postgresql://{postgres_source(pg_cluster)['user']}@")
    assert expected in message and "\n" not in message
    assert not list(ctx.out.rglob("*.parquet"))


def test_a_query_may_end_with_a_semicolon(pg: Any, pg_cluster: Any, tmp_path: Path) -> None:
    query = "SELECT g AS id FROM generate_series(1, 3) g ;\n"
    ctx = stage_context(
        tmp_path, {"source": {"postgres": postgres_source(pg_cluster, query=query)}}
    )
    assert main(ctx) == 0
    assert sorted(read_all(ctx.out)[0]["id"].to_list()) == [1, 2, 3]


def test_names_that_hold_percent_signs_and_dots(pg: Any, pg_cluster: Any, tmp_path: Path) -> None:
    """A table named with %, a watermark column named with % and a column with a dot: psycopg
    reads % as a placeholder, and a dot is not a schema separator inside a column's name."""
    pg.execute('CREATE TABLE t."sales%" ("p%" int, "x.y" text)')
    pg.execute("""INSERT INTO t."sales%" SELECT g, 'v' || g FROM generate_series(1, 10) g""")
    with_ = _stream(pg_cluster, "p%", table="t.sales%")
    first = stage_context(tmp_path, with_, "1")
    assert main(first) == 0
    data, manifest = read_all(first.out)
    assert data.columns == ["p%", "x.y"] and sorted(data["p%"].to_list()) == list(range(1, 11))
    assert manifest["this_run"]["batches"] == 3
    dotted = {**_stream(pg_cluster, "x.y", table="t.sales%"), "mode": "batch"}
    other = stage_context(tmp_path / "dotted", dotted, "1")
    assert main(other) == 0
    assert read_all(other.out)[0].height == 10


@pytest.mark.parametrize(
    ("pg_type", "values"),
    [
        ("uuid", "lpad(to_hex(g), 32, '0')::uuid"),
        ("time", "time '00:00' + g * interval '1 minute'"),
        ("interval", "g * interval '1 hour'"),
        ("bytea", "decode(lpad(to_hex(g), 4, '0'), 'hex')"),
        ("boolean", "g > 5"),
    ],
)
def test_a_watermark_of_any_ordered_type_resumes_without_duplicates(
    pg: Any, pg_cluster: Any, tmp_path: Path, pg_type: str, values: str
) -> None:
    pg.execute(f"CREATE TABLE t.w (id int, wm {pg_type})")
    pg.execute(f"INSERT INTO t.w SELECT g, {values} FROM generate_series(1, 10) g")
    with_ = _stream(pg_cluster, "wm", table="t.w")
    assert main(stage_context(tmp_path, with_, "1")) == 0
    journal = json.loads((tmp_path / "state/ingest/ingest/journal.json").read_text())
    assert journal["watermark"] is not None
    pg.execute(f"INSERT INTO t.w SELECT g, {values} FROM generate_series(11, 12) g")
    second = stage_context(tmp_path, with_, "2")
    assert main(second) == 0
    data, manifest = read_all(second.out)
    ids = sorted(data["id"].to_list())
    assert len(ids) == len(set(ids))  # nothing read twice
    if pg_type == "boolean":  # true then false: rows at the recorded value true are done
        assert ids == list(range(1, 11))
    else:
        assert ids == list(range(1, 13)) and manifest["this_run"]["rows"] == 2


def test_a_watermark_moved_to_another_column_is_refused(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    pg.execute("CREATE TABLE t.m (id int, seq int)")
    pg.execute("INSERT INTO t.m SELECT g, 1000 + g FROM generate_series(1, 20) g")
    assert main(stage_context(tmp_path, _stream(pg_cluster, "seq", table="t.m"), "1")) == 0
    before = _parts(tmp_path)
    pg.execute("INSERT INTO t.m SELECT g, 1000 + g FROM generate_series(21, 25) g")
    with pytest.raises(LockgateError) as caught:
        main(stage_context(tmp_path, _stream(pg_cluster, "id", table="t.m"), "2"))
    message = str(caught.value)
    assert "watermark (1020) is a value of column 'seq'" in message
    assert "now reads past column 'id'" in message
    assert "Set incremental.watermark back to 'seq'" in message
    assert _parts(tmp_path) == before


def test_a_changed_transform_cannot_add_parts_of_another_schema(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    pg.execute("CREATE TABLE t.s (id int, price float8, qty int)")
    pg.execute("INSERT INTO t.s SELECT g, g * 1.5, g FROM generate_series(1, 8) g")
    with_ = _stream(pg_cluster, "id", table="t.s")
    assert main(stage_context(tmp_path, with_, "1")) == 0
    before = _parts(tmp_path)
    pg.execute("INSERT INTO t.s VALUES (9, 1.0, 1)")
    changed = {
        **with_,
        "transform": [{"derive": {"total": "price * qty"}}, {"drop": ["qty"]}],
    }
    with pytest.raises(LockgateError) as caught:
        main(stage_context(tmp_path, changed, "2"))
    message = str(caught.value)
    assert message.startswith("the dataset's parts would no longer share one schema: ")
    assert "column 'qty' was dropped by the transform" in message
    assert "column 'total' was added by the transform" in message
    assert "the watermark stays at 8" in message
    assert _parts(tmp_path) == before
    # the spec as it was reads on
    third = stage_context(tmp_path, with_, "3")
    assert main(third) == 0
    assert read_all(third.out)[0].height == 9
