"""What a run with encryption on hands a stage as its upstream, through the real CLI and the
local executor: never ciphertext as data, never another cache entry's outputs, never a plaintext
entry, and no plaintext left behind by a run killed while it opened one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.test_encrypted_runs import KEY, PAYLOAD, SPEC, _entry, _run
from tests.projects import REPO_ROOT, last_record, write_project

READER = "count"


def _reader(root: Path) -> dict[str, object]:
    return next(s for s in last_record(root)["stages"] if s["name"] == READER)


def _project(root: Path, spec: str = SPEC) -> Path:
    write_project(root, spec, {"data/rows.csv": f"{PAYLOAD}\n", "keys/data.key": KEY + "\n"})
    first = _run(root)
    assert first.code == 0, first.stderr
    return root


def _two_entries(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A project with two cache entries of stage extract (two inputs), its input back at the
    first's; the project and the two entries' folders."""
    root = _project(tmp_path / "p")
    first = _entry(root, "extract")
    (root / "data" / "rows.csv").write_text(f"{PAYLOAD}\nVERSION-B\n")
    assert _run(root).code == 0
    second = next(
        p.parent
        for p in (root / ".lockgate" / "cache").glob("*/entry.json")
        if json.loads(p.read_text())["stage"] == "extract" and p.parent != first
    )
    (root / "data" / "rows.csv").write_text(f"{PAYLOAD}\n")  # back to the first entry's input
    return root, first, second


def test_an_entry_whose_index_was_removed_is_refused(tmp_path: Path) -> None:
    """Without its index the folder looks plain: its ciphertext used to reach the stage."""
    root = _project(tmp_path / "p")
    (_entry(root, "extract") / "out" / ".lockgate-sealed").unlink()
    result = _run(root, "--stage", READER, "--only", "--no-cache")
    assert result.code != 0 and "Traceback" not in result.stderr
    reason = str(_reader(root)["reason"])
    assert "is sealed, but" in reason and ".lockgate-sealed is missing" in reason
    assert "re-run with --no-cache" in reason


def test_an_export_without_its_index_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    assert _run(root, "--stage", "extract", "--export-dir", "exp").code == 0
    (root / "exp" / "extract" / ".lockgate-sealed").unlink()
    result = _run(root, "--stage", READER, "--only", "--no-cache", "--upstream-dir", "exp")
    assert result.code != 0 and "Traceback" not in result.stderr
    reason = str(_reader(root)["reason"])
    assert "outputs are not sealed, but lockgate.yaml sets `encryption:`" in reason
    assert "Export it again" in reason


def test_a_plaintext_folder_in_place_of_a_sealed_export_is_refused(tmp_path: Path) -> None:
    """Whoever can replace a CI artifact could hand the next job plain rows of their own: a
    run of a spec with encryption exports sealed, so a plain upstream folder is not its."""
    root = _project(tmp_path / "p")
    assert _run(root, "--stage", "extract", "--export-dir", "exp").code == 0
    shutil.rmtree(root / "exp" / "extract")
    (root / "exp" / "extract" / "m").mkdir(parents=True)
    (root / "exp" / "extract" / "rows.csv").write_text("forged\nforged\nforged\n")
    (root / "exp" / "extract" / "m" / "w.bin").write_text("w\n")
    result = _run(root, "--stage", READER, "--only", "--no-cache", "--upstream-dir", "exp")
    assert result.code != 0 and "Traceback" not in result.stderr
    reason = str(_reader(root)["reason"])
    assert f"{root / 'exp' / 'extract'}: stage 'extract''s outputs are not sealed" in reason


def test_a_swapped_entry_is_not_exported(tmp_path: Path) -> None:
    """The exporting job's cache hit is checked like a read: swapped entries would otherwise
    ship the other entry's outputs to the next job, which cannot tell which entry they are."""
    root, first, second = _two_entries(tmp_path)
    aside = root / "aside"
    os.rename(first / "out", aside)
    os.rename(second / "out", first / "out")
    os.rename(aside, second / "out")
    result = _run(root, "--stage", "extract", "--export-dir", "exp")
    assert result.code != 0 and "Traceback" not in result.stderr
    extract = next(s for s in last_record(root)["stages"] if s["name"] == "extract")
    assert "sealed for another cache entry" in str(extract["reason"])
    assert not (root / "exp" / "extract").exists()


def test_an_entry_sealed_before_entries_were_bound_is_refused(tmp_path: Path) -> None:
    """An index naming no entry (an earlier lockgate's) vouches for no particular entry: such
    entries could be swapped whole, so they are replaced rather than read."""
    from lockgate.engine.sealed_tree import INDEX
    from lockgate.engine.sealing import Sealer

    root = _project(tmp_path / "p")
    out = _entry(root, "extract") / "out"
    sealer = Sealer.from_key(bytes.fromhex(KEY))
    name = f"{INDEX}:extract"
    index = json.loads(sealer.open((out / INDEX).read_bytes(), name, "index"))
    del index["entry"]
    (out / INDEX).write_bytes(sealer.seal(json.dumps(index, sort_keys=True).encode(), name))
    result = _run(root, "--stage", READER, "--only", "--no-cache")
    assert result.code != 0 and "Traceback" not in result.stderr
    reason = str(_reader(root)["reason"])
    assert "sealed without naming its entry" in reason and "--no-cache" in reason


def test_the_executable_bit_comes_from_the_sealed_index(tmp_path: Path) -> None:
    """A mode on disk is anyone's to change; the index records which files were executable."""
    from lockgate.engine.sealed_tree import open_tree, seal_tree
    from lockgate.engine.sealing import Sealer

    sealer = Sealer.from_key(bytes.fromhex(KEY))
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "data.csv").write_text("a\n")
    (plain / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(plain / "run.sh", 0o755)
    seal_tree(plain, tmp_path / "sealed", sealer, stage="s", digest="d")
    os.chmod(tmp_path / "sealed" / "data.csv", 0o755)  # flipped at rest
    os.chmod(tmp_path / "sealed" / "run.sh", 0o644)
    open_tree(tmp_path / "sealed", tmp_path / "opened", sealer, stage="s")
    assert (tmp_path / "opened" / "data.csv").stat().st_mode & 0o111 == 0
    assert (tmp_path / "opened" / "run.sh").stat().st_mode & 0o111 != 0


def test_outputs_swapped_between_two_entries_of_a_stage_are_refused(tmp_path: Path) -> None:
    """Both folders open with the key, but each holds the other entry's outputs."""
    root, first, second = _two_entries(tmp_path)
    aside = root / "aside"
    os.rename(first / "out", aside)
    os.rename(second / "out", first / "out")
    os.rename(aside, second / "out")
    result = _run(root, "--stage", READER, "--only", "--no-cache")
    assert result.code != 0 and "Traceback" not in result.stderr
    reason = str(_reader(root)["reason"])
    assert "sealed for another cache entry" in reason and "swapped or copied in" in reason


def test_whole_entries_swapped_are_refused_too(tmp_path: Path) -> None:
    """entry.json travels with the folder: the sealed index names the cache key it belongs to."""
    root, first, second = _two_entries(tmp_path)
    aside = first.with_name("aside")
    os.rename(first, aside)
    os.rename(second, first)
    os.rename(aside, second)
    result = _run(root, "--stage", READER, "--only", "--no-cache")
    assert result.code != 0 and "Traceback" not in result.stderr
    assert "sealed for another cache entry" in str(_reader(root)["reason"])


def test_a_plaintext_entry_is_not_read_by_a_run_with_encryption(tmp_path: Path) -> None:
    """Entries written before `encryption:` was set: an upstream not run in this run is not
    taken from one (the stage itself would re-make it sealed)."""
    root = _project(tmp_path / "p", SPEC.replace("encryption: {key: data-key}\n", ""))
    (root / "lockgate.yaml").write_text(SPEC)
    result = _run(root, "--stage", READER, "--only", "--no-cache")
    assert result.code != 0 and "Traceback" not in result.stderr
    reason = str(_reader(root)["reason"])
    assert "was written before `encryption:` was set" in reason
    assert "run stage 'extract' too (without --only)" in reason


def test_empty_folders_come_back_when_a_sealed_output_is_opened(tmp_path: Path) -> None:
    spec = SPEC.replace(
        """echo w > "$LOCKGATE_OUT/m/w.bin"']""",
        """echo w > "$LOCKGATE_OUT/m/w.bin"; mkdir -p "$LOCKGATE_OUT/empty/deeper"']""",
    ).replace(
        """grep -c diagnosis "$LOCKGATE_IN/extract/rows.csv" > "$LOCKGATE_OUT/n.txt";""",
        """test -d "$LOCKGATE_IN/extract/empty/deeper"; grep -c diagnosis """
        """"$LOCKGATE_IN/extract/rows.csv" > "$LOCKGATE_OUT/n.txt";""",
    )
    root = _project(tmp_path / "p", spec)
    result = _run(root, "--stage", READER, "--only", "--no-cache")  # extract from the cache
    assert result.code == 0, result.stderr + result.stdout


def test_an_output_named_like_the_index_is_refused_and_removed(tmp_path: Path) -> None:
    """It used to make lockgate take the stage's plaintext output for a sealed folder, and
    leave it on disk."""
    spec = SPEC.replace(
        """echo w > "$LOCKGATE_OUT/m/w.bin"']""",
        """echo w > "$LOCKGATE_OUT/m/w.bin"; echo x > "$LOCKGATE_OUT/.lockgate-sealed"']""",
    )
    root = write_project(
        tmp_path / "p", spec, {"data/rows.csv": f"{PAYLOAD}\n", "keys/data.key": KEY + "\n"}
    )
    result = _run(root)
    assert result.code != 0 and "Traceback" not in result.stderr
    extract = next(s for s in last_record(root)["stages"] if s["name"] == "extract")
    assert "may not be named .lockgate-sealed" in str(extract["reason"])
    left = [
        p
        for p in (root / ".lockgate").rglob("*")
        if p.is_file() and PAYLOAD.encode() in p.read_bytes()
    ]
    assert left == []


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc to watch the run")
def test_a_run_killed_while_opening_an_upstream_leaves_no_plaintext(tmp_path: Path) -> None:
    """The folder a sealed upstream is opened into is plaintext: the next run removes it."""
    many = """for i in $(seq 1 3000); do echo "$i patient-7731" > "$LOCKGATE_OUT/f$i.txt"; done"""
    spec = SPEC.replace(
        """mkdir "$LOCKGATE_OUT/m"; echo w > "$LOCKGATE_OUT/m/w.bin"']""",
        f"""mkdir "$LOCKGATE_OUT/m"; echo w > "$LOCKGATE_OUT/m/w.bin"; {many}']""",
    )
    root = _project(tmp_path / "p", spec)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "NO_COLOR": "1"}
    argv = [sys.executable, "-m", "lockgate", "run", "--executor", "local"]
    runs = root / ".lockgate" / "runs"
    for _ in range(10):  # the kill has to land while the folder is being opened
        child = subprocess.Popen(
            [*argv, "--stage", READER, "--only", "--no-cache"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        opening: list[Path] = []
        while not opening and child.poll() is None and time.monotonic() < deadline:
            opening = list(runs.glob("*/extract/.out.opening-*"))
        if opening:
            child.send_signal(signal.SIGKILL)
            child.wait()
            break
        child.wait()
    else:
        pytest.fail("no run was caught while it opened its upstream")
    assert list(runs.glob("*/extract/.out.opening-*")), "the kill left nothing to sweep"
    after = _run(root, "--stage", "extract", "--only")
    assert after.code == 0, after.stderr
    assert list(runs.glob("*/extract/.out.opening-*")) == []
    shutil.rmtree(root / ".lockgate" / "cache")  # nothing plaintext should remain anywhere
    left = [p for p in (root / ".lockgate").rglob("*.txt") if b"patient-7731" in p.read_bytes()]
    assert left == []
