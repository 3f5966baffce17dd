"""A sealed output folder read in place: each listed file opens as a seekable file over its
plaintext, links are followed, report files are checked against the index; a folder with a file
added or removed, another stage's index, or a file that is not listed is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lockgate.engine.digests import tree_digest
from lockgate.engine.sealed_tree import seal_tree
from lockgate.engine.sealed_view import SealedFolder
from lockgate.engine.sealing import Sealer, SealError

SEALER = Sealer.from_key(bytes(range(32)))


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    plain = tmp_path / "plain"
    (plain / "data").mkdir(parents=True)
    (plain / "data" / "part-0.bin").write_bytes(os.urandom(9 << 20))  # three 4 MiB segments
    (plain / "report.md").write_text("# rows: 3\n")
    (plain / "latest").symlink_to("data/part-0.bin")
    (plain / "up").symlink_to("../outside")
    sealed = tmp_path / "sealed"
    seal_tree(
        plain,
        sealed,
        SEALER,
        stage="ingest",
        digest=tree_digest(plain),
        public=frozenset({"report.md"}),
    )
    return plain, sealed


def test_files_read_in_place(trees: tuple[Path, Path]) -> None:
    plain, sealed = trees
    view = SealedFolder(sealed, SEALER, stage="ingest")
    assert view.outputs_digest == tree_digest(plain)
    assert view.names() == ["data/part-0.bin", "latest", "report.md", "up"]
    data = (plain / "data" / "part-0.bin").read_bytes()
    with view.open("data/part-0.bin") as f:
        f.seek(5 << 20)
        assert f.read(100) == data[5 << 20 : (5 << 20) + 100]
    with view.open("latest") as f:  # a recorded link, followed
        assert f.read() == data
    with view.open("report.md") as f:
        assert f.read() == b"# rows: 3\n"
    assert not list(sealed.parent.glob("**/.*.opening*"))  # nothing was written in plaintext


def test_what_is_refused(trees: tuple[Path, Path]) -> None:
    _, sealed = trees
    view = SealedFolder(sealed, SEALER, stage="ingest")
    with pytest.raises(SealError, match="no such file"):
        view.open("data/part-1.bin")
    with pytest.raises(SealError, match="out of the sealed folder"):
        view.open("up")
    with pytest.raises(SealError, match="authentication failed"):
        SealedFolder(sealed, SEALER, stage="train")  # another stage's index
    (sealed / "report.md").write_text("# rows: 4\n")
    with pytest.raises(SealError, match="altered after sealing"):
        view.open("report.md")
    (sealed / "extra.parquet").write_bytes(b"x")
    with pytest.raises(SealError, match=r"extra\.parquet was added"):
        SealedFolder(sealed, SEALER, stage="ingest")


def test_a_file_swapped_for_another_of_the_folder_fails(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.bin").write_bytes(b"A" * 5000)
    (plain / "b.bin").write_bytes(b"B" * 5000)
    sealed = tmp_path / "sealed"
    seal_tree(plain, sealed, SEALER, stage="s", digest=tree_digest(plain))
    a, b = (sealed / "a.bin").read_bytes(), (sealed / "b.bin").read_bytes()
    (sealed / "a.bin").write_bytes(b)
    (sealed / "b.bin").write_bytes(a)
    view = SealedFolder(sealed, SEALER, stage="s")
    with pytest.raises(SealError, match="authentication failed"):
        view.open("a.bin")
