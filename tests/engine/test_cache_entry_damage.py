"""A damaged cache entry (``entry.json`` not JSON, or JSON without a field it needs) is no entry:
the stage runs again and its new entry replaces the damaged one, through the real CLI and the
local executor, and on :class:`StageCache` itself. Never an internal error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.engine.cache import StageCache
from tests.projects import last_record, lockgate, states, write_project

SPEC = """\
version: 1
name: damaged
image: {base: lockgate/debian:bookworm}
stages:
  make: {run: [sh, -c, 'echo rows > "$LOCKGATE_OUT/data.txt"']}
  read: {run: [sh, -c, 'cat "$LOCKGATE_IN/make/data.txt" > "$LOCKGATE_OUT/copy.txt"'], needs: [make]}
"""
DAMAGE = {
    "not-json": "{garbage\n",
    "no-stage": json.dumps({"outputs_digest": "0" * 64, "created": 1.0}),
    "a-list": "[]",
    "wrong-type": json.dumps({"stage": "make", "outputs_digest": 7, "created": "now"}),
}


def _entry(root: Path, stage: str) -> Path:
    for meta in (root / ".lockgate" / "cache").glob("*/entry.json"):
        if json.loads(meta.read_text())["stage"] == stage:
            return meta
    raise AssertionError(f"no cache entry for {stage}")


def _run(root: Path) -> dict[str, str]:
    result = lockgate("run", "--executor", "local", cwd=root)
    assert result.code == 0, result.stderr
    assert "internal error" not in result.stderr
    return states(last_record(root))


@pytest.mark.parametrize("damage", ["not-json", "no-stage"])
def test_a_damaged_entry_is_run_again_and_replaced(tmp_path: Path, damage: str) -> None:
    root = write_project(tmp_path / "p", SPEC)
    assert _run(root) == {"make": "ok", "read": "ok"}
    meta = _entry(root, "make")
    meta.write_text(DAMAGE[damage])
    assert _run(root) == {"make": "ok", "read": "cached"}  # same outputs: read stays a hit
    assert json.loads(meta.read_text())["stage"] == "make"
    assert (meta.parent / "out" / "data.txt").read_text() == "rows\n"
    assert _run(root) == {"make": "cached", "read": "cached"}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_the_cache_reads_a_damaged_entry_as_none_and_put_replaces_it(
    tmp_path: Path, damage: str
) -> None:
    cache = StageCache(tmp_path / "cache")
    out = tmp_path / "out"
    out.mkdir()
    (out / "data.txt").write_text("first\n")
    cache.put("k", "make", out, "d1")
    (tmp_path / "cache" / "k" / "entry.json").write_text(DAMAGE[damage])
    assert cache.get("k") is None
    out.mkdir()
    (out / "data.txt").write_text("second\n")
    entry = cache.put("k", "make", out, "d2")
    assert (entry.stage, entry.outputs_digest) == ("make", "d2")
    assert cache.get("k") == entry
    assert (entry.out / "data.txt").read_text() == "second\n"
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["k"]  # nothing left aside


def test_an_entry_without_its_out_folder_is_none(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    out = tmp_path / "out"
    out.mkdir()
    entry = cache.put("k", "make", out, "d1")
    entry.out.rmdir()
    assert cache.get("k") is None


def test_a_whole_entry_is_kept_when_another_put_comes_second(tmp_path: Path) -> None:
    """Two runs racing on one key: the second's copy is discarded, the first entry stays."""
    cache = StageCache(tmp_path / "cache")
    for text in ("first\n", "second\n"):
        out = tmp_path / "out"
        out.mkdir()
        (out / "data.txt").write_text(text)
        entry = cache.put("k", "make", out, text.strip())
    assert entry.outputs_digest == "first"
    assert (entry.out / "data.txt").read_text() == "first\n"
