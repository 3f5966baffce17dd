"""Plaintext a killed run left: removed only from dead runs without a record; a run still going
holds its lock (a real ``flock``) and is left alone, and so is a finished run's folder."""

from __future__ import annotations

from pathlib import Path

from lockgate.engine.leftovers import LiveMark, sweep


def _run(runs: Path, name: str) -> Path:
    run_dir = runs / name
    (run_dir / "train" / "out").mkdir(parents=True)
    (run_dir / "train" / "out" / "rows.csv").write_text("row\n")
    (run_dir / "train" / "log.txt.sealed").write_bytes(b"sealed")
    (run_dir / ".caches" / "dl").mkdir(parents=True)
    return run_dir


def test_only_dead_unfinished_runs_are_swept(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    killed, going, finished, current = (_run(runs, n) for n in ("a", "b", "c", "d"))
    (finished / "run.json").write_text("{}")
    live = LiveMark(going)
    mine = LiveMark(current)
    try:
        removed = sweep(runs, current)
        assert sorted(removed) == sorted([killed / ".caches", killed / "train" / "out"])
        assert not (killed / "train" / "out").exists() and not (killed / ".caches").exists()
        assert (killed / "train" / "log.txt.sealed").is_file()  # sealed: kept
        for kept in (going, finished, current):
            assert (kept / "train" / "out" / "rows.csv").is_file() and (kept / ".caches").is_dir()
    finally:
        live.release()
        mine.release()
    assert not (going / ".live").exists()
    assert sweep(runs, current) == [going / ".caches", going / "train" / "out"]  # now dead
