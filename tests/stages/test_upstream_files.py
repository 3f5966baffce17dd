"""A built-in stage's view of its upstream outputs: a sealed one is read in place (Parquet, CSV
and NPZ load as from the plain files, with the plaintext's digest), a plain one as it is, and a
path outside the upstream folders is opened directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lockgate.contract import ENV_ENCRYPTION_KEY
from lockgate.engine.digests import tree_digest
from lockgate.engine.sealed_tree import seal_tree
from lockgate.engine.sealing import Sealer
from lockgate.stages.context import StageContext
from lockgate.stages.train.tabular import DatasetError, load_tabular
from lockgate.stages.upstream_files import UpstreamFiles

KEY = bytes(range(32))


def _write(folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(300, 2)), rng.integers(0, 3, 300)
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"a": x[:, 0], "b": x[:, 1], "y": y}), folder / "d.parquet")
    rows = "\n".join(f"{a},{b},{c}" for (a, b), c in zip(x, y, strict=True))
    (folder / "d.csv").write_text("a,b,y\n" + rows + "\n")
    np.savez(folder / "d.npz", X=x, y=y)


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StageContext:
    plain = tmp_path / "plain"
    _write(plain)
    inputs = tmp_path / "in"
    seal_tree(
        plain, inputs / "sealed", Sealer.from_key(KEY), stage="sealed", digest=tree_digest(plain)
    )
    (inputs / "open").symlink_to(plain)
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "k").write_text(KEY.hex())
    monkeypatch.setenv(ENV_ENCRYPTION_KEY, "file:k")
    return StageContext(
        tmp_path / "ws", inputs, tmp_path / "out", tmp_path / "s", tmp_path / "st", "r", "t", ""
    )


@pytest.mark.parametrize("name", ["d.parquet", "d.csv", "d.npz"])
def test_sealed_and_plain_upstreams_load_alike(ctx: StageContext, name: str) -> None:
    upstream = UpstreamFiles(ctx)
    sealed = load_tabular(ctx.resolve(f"in:sealed/{name}"), "y", upstream=upstream)
    plain = load_tabular(ctx.resolve(f"in:open/{name}"), "y", upstream=upstream)
    assert upstream.sealed(ctx.resolve(f"in:sealed/{name}"))
    assert not upstream.sealed(ctx.resolve(f"in:open/{name}"))
    assert sealed.digest == plain.digest
    assert np.array_equal(sealed.features, plain.features)
    assert np.array_equal(sealed.target, plain.target)


def test_what_is_not_there(ctx: StageContext) -> None:
    upstream = UpstreamFiles(ctx)
    assert not upstream.is_file(ctx.resolve("in:sealed/nope.parquet"))
    assert upstream.is_file(ctx.resolve("in:sealed/d.csv"))
    with pytest.raises(DatasetError, match="data file not found"):
        load_tabular(ctx.resolve("in:sealed/nope.parquet"), "y", upstream=upstream)
