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


def test_a_sealed_table_is_decrypted_once_and_never_through_a_file_object(
    ctx: StageContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data and its digest come from one decryption into memory: the reader that decrypts
    segment by segment for a file object is not used, and pyarrow is never handed a Python file
    (it reads those one call at a time, and its read can still be tidying up at exit)."""
    import pyarrow.parquet as pq

    from lockgate.engine import sealed_file, sealed_reader

    reads: list[str] = []
    whole = sealed_file.read_file

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(str(args[1]))
        return whole(*args, **kwargs)

    def no_file_object(*_: object, **__: object) -> None:
        raise AssertionError("a table was read through a file object")

    given: list[object] = []
    read_table = pq.read_table

    def recording(source, *args, **kwargs):  # type: ignore[no-untyped-def]
        given.append(source)
        return read_table(source, *args, **kwargs)

    monkeypatch.setattr(sealed_file, "read_file", counted)
    monkeypatch.setattr(sealed_reader, "SealedReader", no_file_object)
    monkeypatch.setattr(pq, "read_table", recording)
    data = load_tabular(ctx.resolve("in:sealed/d.parquet"), "y", upstream=UpstreamFiles(ctx))
    assert reads == [str(ctx.inputs / "sealed" / "d.parquet")]
    assert data.features.shape == (300, 2)
    plain = load_tabular(ctx.resolve("in:open/d.parquet"), "y")
    assert data.digest == plain.digest
    assert len(given) == 2
    assert all(
        not hasattr(source, "read") or type(source).__module__.startswith("pyarrow")
        for source in given
    ), given


def test_a_flipped_byte_anywhere_in_a_sealed_table_stops_the_read(ctx: StageContext) -> None:
    """A whole read checks every segment, even one a partial reader would never touch."""
    path = ctx.inputs / "sealed" / "d.parquet"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 3] ^= 1
    path.write_bytes(bytes(raw))
    from lockgate.engine.sealing import SealError

    with pytest.raises(SealError, match=r"d\.parquet: authentication failed"):
        load_tabular(ctx.resolve("in:sealed/d.parquet"), "y", upstream=UpstreamFiles(ctx))


CHILD = """
import resource, sys
from pathlib import Path
import numpy, pyarrow, pyarrow.parquet  # their own mappings come before the limit
from lockgate.stages.train.tabular import DatasetError, load_tabular
pyarrow.set_cpu_count(2)  # the thread pools are started (and bounded) before the limit too
pyarrow.set_io_thread_count(2)
load_tabular(Path(sys.argv[2]), "c0")
size = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + (48 << 20), resource.RLIM_INFINITY))
try:
    load_tabular(Path(sys.argv[1]), "c0")
except DatasetError as exc:
    print("refused:", exc)
"""


def test_a_data_set_larger_than_the_stages_memory_is_one_clear_error(tmp_path: Path) -> None:
    """The address space is capped just above what the child holds, so reading a 128 MiB
    table really fails to allocate: one line naming the file, not a traceback."""
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = (128 << 20) // (8 * 4)
    rng = np.random.default_rng(0)
    path = tmp_path / "big.parquet"
    pq.write_table(
        pa.table({f"c{i}": rng.random(rows) for i in range(4)}), path, compression="none"
    )
    small = tmp_path / "small.parquet"
    pq.write_table(pa.table({"c0": [1.0, 0.0], "c1": [2.0, 3.0]}), small)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(small)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    gib = path.stat().st_size / 2**30
    assert done.stdout.startswith(f"refused: {path} ({gib:.2f} GiB on disk): does not fit in "), (
        done.stdout
    )
    assert "give the stage more memory" in done.stdout and "Traceback" not in done.stderr


def test_a_folder_swapped_after_the_engine_checked_it_is_refused(
    ctx: StageContext, tmp_path: Path
) -> None:
    """The engine checks a sealed input before the stage starts and names, in
    LOCKGATE_IN_DIGESTS, the outputs digest it found; a folder swapped in afterwards (another
    cache entry's, which opens with the same key) is refused when the stage reads it, and so is
    one whose index went, which would otherwise read as plain."""
    from dataclasses import replace

    from lockgate.contract import ENV_IN_DIGESTS
    from lockgate.engine.sealed_tree import INDEX
    from lockgate.engine.sealing import SealError

    checked = tree_digest(tmp_path / "plain")
    path = ctx.resolve("in:sealed/d.csv")
    same = replace(ctx, in_digests={"sealed": checked})
    assert StageContext.from_env(same.env()).in_digests == {"sealed": checked}
    assert ENV_IN_DIGESTS in same.env()
    assert UpstreamFiles(same).read(path)  # the folder the engine checked
    swapped = replace(ctx, in_digests={"sealed": "sha256:" + "0" * 64})
    with pytest.raises(SealError, match="sealed for another cache entry"):
        UpstreamFiles(swapped).read(path)
    (ctx.inputs / "sealed" / INDEX).unlink()
    with pytest.raises(SealError, match="their index is gone now"):
        UpstreamFiles(same).read(path)
    assert UpstreamFiles(ctx).sealed(path) is False  # no digest named: a plain folder, as before
