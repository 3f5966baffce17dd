"""The manifest is what later stages read: data-check and train take an ingest output folder
(or its manifest.json), re-check every part's digest, and name the dataset by the manifest's
digest; a part altered after ingest is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.context import StageContext
from lockgate.stages.ingest import main as ingest
from tests.stages.ingest.conftest import postgres_source, stage_context


def _ingest(pg: Any, pg_cluster: Any, tmp_path: Path) -> StageContext:
    pg.execute(
        "CREATE TABLE t.rows AS SELECT g AS id, (g % 7)::float8 AS x1, (g % 5)::float8 AS x2, "
        "g % 2 AS label FROM generate_series(1, 2000) g"
    )
    ctx = stage_context(
        tmp_path,
        {
            "source": {"postgres": postgres_source(pg_cluster, table="t.rows")},
            "transform": [{"drop": ["id"]}],
            "batch": {"max_rows": 500},
        },
    )
    assert ingest(ctx) == 0
    return ctx


def test_train_and_data_check_read_the_manifest(pg: Any, pg_cluster: Any, tmp_path: Path) -> None:
    from lockgate.stages.data_check.source import locate
    from lockgate.stages.train.tabular import load_tabular

    ctx = _ingest(pg, pg_cluster, tmp_path)
    manifest = json.loads((ctx.out / "manifest.json").read_text())
    assert len(manifest["files"]) == 4
    data = load_tabular(ctx.out, "label")
    assert data.features.shape == (2000, 2)
    assert data.feature_names == ("x1", "x2")
    assert data.digest == manifest["digest"]
    dataset = locate(str(ctx.out), lambda p: Path(p), None, "data")
    assert [f.name for f in dataset.files] == [Path(f["path"]).name for f in manifest["files"]]
    assert dataset.scan().collect().height == 2000


def test_data_check_stage_gates_an_ingest_output(pg: Any, pg_cluster: Any, tmp_path: Path) -> None:
    from lockgate.stages.data_check import main as data_check

    ingested = _ingest(pg, pg_cluster, tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ingest").symlink_to(ingested.out)
    check = stage_context(
        tmp_path, {"data": "in:ingest", "rows": {"min": 2000}, "columns": {"label": {}}}, "dc"
    )
    assert data_check(check) == 0
    report = json.loads((check.out / "data-check.json").read_text())
    assert report["passed"] is True


def test_an_altered_part_is_refused(pg: Any, pg_cluster: Any, tmp_path: Path) -> None:
    from lockgate.stages.train.tabular import load_tabular

    ctx = _ingest(pg, pg_cluster, tmp_path)
    part = sorted((ctx.out / "data").iterdir())[1]
    body = bytearray(part.read_bytes())
    body[100] ^= 1
    part.unlink()  # the output holds a hard link to the state's copy: replace, not edit
    part.write_bytes(bytes(body))
    with pytest.raises(LockgateError, match=f"part data/{part.name} does not match its recorded"):
        load_tabular(ctx.out, "label")


def test_train_reads_a_sealed_ingest_output_in_place(
    pg: Any, pg_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ingest output sealed as a cache entry, handed to train as it is: the same rows and
    the manifest's digest, read through the sealed reader; a tampered part fails on its tag."""
    from lockgate.contract import ENV_ENCRYPTION_KEY
    from lockgate.engine.digests import tree_digest
    from lockgate.engine.sealed_tree import seal_tree
    from lockgate.engine.sealing import Sealer, SealError
    from lockgate.stages.train.tabular import load_tabular
    from lockgate.stages.upstream_files import UpstreamFiles

    ingested = _ingest(pg, pg_cluster, tmp_path)
    key = bytes(range(32))
    (tmp_path / "in").mkdir()
    sealed = tmp_path / "in" / "ingest"
    seal_tree(
        ingested.out, sealed, Sealer.from_key(key), stage="ingest", digest=tree_digest(ingested.out)
    )
    (tmp_path / "ws" / "data.key").write_text(key.hex())
    monkeypatch.setenv(ENV_ENCRYPTION_KEY, "file:data.key")
    train = stage_context(tmp_path, {}, "train")
    upstream = UpstreamFiles(train)

    data = load_tabular(train.resolve("in:ingest"), "label", upstream=upstream)
    plain = load_tabular(ingested.out, "label")
    assert data.features.shape == (2000, 2)
    assert data.digest == plain.digest
    assert (data.features == plain.features).all() and (data.target == plain.target).all()

    part = sorted((sealed / "data").iterdir())[2]
    body = bytearray(part.read_bytes())
    body[200] ^= 1
    part.write_bytes(bytes(body))
    with pytest.raises(SealError, match=f"{part.name}: authentication failed"):
        load_tabular(train.resolve("in:ingest"), "label", upstream=UpstreamFiles(train))

    monkeypatch.delenv(ENV_ENCRYPTION_KEY)
    with pytest.raises(SealError, match="this stage was given no key"):
        load_tabular(train.resolve("in:ingest"), "label", upstream=UpstreamFiles(train))


def test_data_check_and_train_refuse_an_ingest_that_read_no_rows(
    pg: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    """A source that returned nothing is said so, naming the ingest, not 'no data files'."""
    from lockgate.stages.data_check.source import DataSourceError, locate
    from lockgate.stages.train.tabular import load_tabular

    pg.execute("CREATE TABLE t.none (x1 float8, label int)")
    ctx = stage_context(
        tmp_path, {"source": {"postgres": postgres_source(pg_cluster, table="t.none")}}
    )
    assert ingest(ctx) == 0
    with pytest.raises(DataSourceError, match=r"^with.data: the ingest manifest at .* no rows"):
        locate(str(ctx.out), lambda p: Path(p), None, "data")
    with pytest.raises(LockgateError, match="the ingest manifest lists no rows"):
        load_tabular(ctx.out, "label")
