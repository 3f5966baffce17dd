"""A stage's output folder sealed file by file: opening gives back the same tree (digest, modes,
links); a file added, removed or swapped, a tampered index or another stage's index is refused."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lockgate.engine.digests import tree_digest
from lockgate.engine.sealed_tree import INDEX, is_sealed, open_tree, seal_tree, sealed_key_id
from lockgate.engine.sealing import Sealer, SealError

SEALER = Sealer.from_key(bytes(range(32)))


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    plain = tmp_path / "plain"
    (plain / "model").mkdir(parents=True)
    (plain / "model" / "weights.bin").write_bytes(b"W" * 10_000)
    (plain / "metrics.json").write_text('{"acc": 0.9}')
    (plain / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(plain / "run.sh", 0o755)
    (plain / "latest").symlink_to("model/weights.bin")
    sealed = tmp_path / "sealed"
    seal_tree(plain, sealed, SEALER, stage="train", digest=tree_digest(plain))
    return plain, sealed


def test_round_trip(tmp_path: Path, trees: tuple[Path, Path]) -> None:
    plain, sealed = trees
    assert is_sealed(sealed) and sealed_key_id(sealed) == SEALER.key_id
    assert b"acc" not in (sealed / "metrics.json").read_bytes()
    digest = open_tree(sealed, tmp_path / "back", SEALER, stage="train")
    assert digest == tree_digest(plain) == tree_digest(tmp_path / "back")
    assert os.stat(tmp_path / "back" / "run.sh").st_mode & 0o111
    assert os.readlink(tmp_path / "back" / "latest") == "model/weights.bin"


def _swap(sealed: Path) -> None:
    a, b = sealed / "metrics.json", sealed / "run.sh"
    tmp = sealed / "t"
    os.rename(a, tmp)
    os.rename(b, a)
    os.rename(tmp, b)


def _last_bit_flipped(data: bytes) -> bytes:
    """The bytes with their last bit changed: setting the last byte to a fixed value left the
    file as it was whenever the tag already ended in that byte (1 run in 256)."""
    return data[:-1] + bytes([data[-1] ^ 1])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda s: (s / "extra.txt").write_text("x"), "extra.txt was added after sealing"),
        (lambda s: (s / "metrics.json").unlink(), "metrics.json is missing after sealing"),
        (_swap, "authentication failed"),
        (
            lambda s: (s / INDEX).write_bytes(_last_bit_flipped((s / INDEX).read_bytes())),
            "authentic",
        ),
    ],
)
def test_damage_is_refused(tmp_path: Path, trees: tuple[Path, Path], damage, message) -> None:
    _, sealed = trees
    damage(sealed)
    with pytest.raises(SealError, match=message):
        open_tree(sealed, tmp_path / "back", SEALER, stage="train")
    assert not (tmp_path / "back").exists() and not list(tmp_path.glob(".back.opening-*"))


def test_another_stages_tree_is_refused(tmp_path: Path, trees: tuple[Path, Path]) -> None:
    _, sealed = trees
    with pytest.raises(SealError, match="authentication failed"):
        open_tree(sealed, tmp_path / "back", SEALER, stage="evaluate")


def test_a_whole_file_replaced_by_one_from_another_tree_is_refused(
    tmp_path: Path, trees: tuple[Path, Path]
) -> None:
    plain, sealed = trees
    (plain / "metrics.json").write_text('{"acc": 0.1}')
    other = tmp_path / "other"
    seal_tree(plain, other, SEALER, stage="train", digest=tree_digest(plain))
    shutil.copy2(other / "metrics.json", sealed / "metrics.json")  # authentic, but not this tree's
    with pytest.raises(SealError, match=r"metrics\.json: authentication failed"):
        open_tree(sealed, tmp_path / "back", SEALER, stage="train")


def test_report_files_stay_readable_and_are_still_checked(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "metrics.json").write_text('{"acc": 0.9}')
    (plain / "rows.csv").write_text("patient-1\n")
    sealed = tmp_path / "sealed"
    public = frozenset({"metrics.json"})
    seal_tree(plain, sealed, SEALER, stage="s", digest=tree_digest(plain), public=public)
    assert (sealed / "metrics.json").read_text() == '{"acc": 0.9}'  # what CI steps read
    assert b"patient-1" not in (sealed / "rows.csv").read_bytes()
    assert open_tree(sealed, tmp_path / "back", SEALER, stage="s") == tree_digest(plain)
    (sealed / "metrics.json").write_text('{"acc": 1.0}')
    with pytest.raises(SealError, match=r"metrics\.json: altered after sealing"):
        open_tree(sealed, tmp_path / "again", SEALER, stage="s")
