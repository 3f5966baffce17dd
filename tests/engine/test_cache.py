"""Cache correctness through the real CLI and the local executor: a change to a declared input,
an env value, argv or the image invalidates exactly the stages downstream of it; touching an
undeclared file does not; a killed stage leaves no cache entry."""

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

from tests.projects import REPO_ROOT, last_record, lockgate, states, write_project

SPEC = """\
version: 1
name: chain
image: {base: lockgate/debian:bookworm}
stages:
  a:
    run: [sh, -c, 'cat data/*.txt > "$LOCKGATE_OUT/a.txt"']
    inputs: ["data/*.txt"]
  b:
    run: [sh, -c, 'tr a-z A-Z < "$LOCKGATE_IN/a/a.txt" > "$LOCKGATE_OUT/b.txt"; echo $MODE >> "$LOCKGATE_OUT/b.txt"']
    needs: [a]
    env: {MODE: one}
  c:
    run: [sh, -c, 'wc -c < "$LOCKGATE_IN/b/b.txt" > "$LOCKGATE_OUT/c.txt"']
    needs: [b]
  side:
    run: [sh, -c, 'echo independent > "$LOCKGATE_OUT/side.txt"']
"""


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project after its first run, made once; each test gets a copy of it."""
    root = tmp_path_factory.mktemp("chain") / "p"
    write_project(root, SPEC, {"data/one.txt": "hello\n", "notes.md": "x\n"})
    first = lockgate("run", "--executor", "local", cwd=root)
    assert first.code == 0, first.stderr
    assert set(states(last_record(root)).values()) == {"ok"}
    return root


@pytest.fixture
def project(first_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(first_run, tmp_path / "p", symlinks=True))


def _rerun(root: Path) -> dict[str, str]:
    result = lockgate("run", "--executor", "local", cwd=root)
    assert result.code == 0, result.stderr
    return states(last_record(root))


def test_unchanged_pipeline_is_all_cached(project):
    assert _rerun(project) == {"a": "cached", "b": "cached", "c": "cached", "side": "cached"}


def test_declared_input_change_reruns_downstream_only(project):
    (project / "data" / "one.txt").write_text("changed\n")
    assert _rerun(project) == {"a": "ok", "b": "ok", "c": "ok", "side": "cached"}


def test_new_file_matching_the_glob_counts(project):
    (project / "data" / "two.txt").write_text("more\n")
    assert _rerun(project)["a"] == "ok"


def test_env_change_reruns_from_that_stage(project):
    spec = project / "lockgate.yaml"
    spec.write_text(spec.read_text().replace("MODE: one", "MODE: two"))
    assert _rerun(project) == {"a": "cached", "b": "ok", "c": "ok", "side": "cached"}


def test_argv_change_reruns_from_that_stage(project):
    spec = project / "lockgate.yaml"
    spec.write_text(spec.read_text().replace("echo independent", "echo independent!"))
    assert _rerun(project) == {"a": "cached", "b": "cached", "c": "cached", "side": "ok"}


def test_image_change_reruns_everything(project):
    spec = project / "lockgate.yaml"
    spec.write_text(
        spec.read_text().replace(
            "{base: lockgate/debian:bookworm}", "{base: lockgate/debian:bookworm, packages: [jq]}"
        )
    )
    assert set(_rerun(project).values()) == {"ok"}


def test_undeclared_file_does_not_invalidate(project):
    (project / "notes.md").write_text("edited\n")
    (project / "data" / "ignored.csv").write_text("not matched by the glob\n")
    assert set(_rerun(project).values()) == {"cached"}


def test_same_output_upstream_keeps_downstream_cached(project):
    """b's outputs do not change when only its argv's formatting does, so c stays cached."""
    spec = project / "lockgate.yaml"
    spec.write_text(spec.read_text().replace("tr a-z A-Z <", "tr a-z A-Z  <"))
    assert _rerun(project) == {"a": "cached", "b": "ok", "c": "cached", "side": "cached"}


def test_no_cache_runs_everything(project):
    result = lockgate("run", "--executor", "local", "--no-cache", cwd=project)
    assert result.code == 0
    assert set(states(last_record(project)).values()) == {"ok"}


def _entries(root: Path) -> list[str]:
    cache = root / ".lockgate" / "cache"
    return (
        sorted(p.name for p in cache.iterdir() if not p.name.startswith("."))
        if cache.exists()
        else []
    )


SLOW = """\
version: 1
name: slow
image: {base: lockgate/debian:bookworm}
stages:
  slow:
    run: [sh, -c, 'echo partial > "$LOCKGATE_OUT/x.txt"; touch "$MARKER"; sleep 30']
    env: {MARKER: MARKER_PATH}
"""


def _start_and_wait(root: Path, marker: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "run", "--executor", "local"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline, "stage never started"
        time.sleep(0.05)
    return proc


def test_killed_stage_leaves_no_entry(tmp_path):
    marker = tmp_path / "started"
    root = write_project(tmp_path / "p", SLOW.replace("MARKER_PATH", str(marker)))
    proc = _start_and_wait(root, marker)
    subprocess.run(["pkill", "-KILL", "-f", "sleep 30"], check=False)
    proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert states(last_record(root)) == {"slow": "failed"}
    assert _entries(root) == []


def test_killed_lockgate_leaves_no_entry(tmp_path):
    marker = tmp_path / "started"
    root = write_project(tmp_path / "p", SLOW.replace("MARKER_PATH", str(marker)))
    proc = _start_and_wait(root, marker)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    subprocess.run(["pkill", "-KILL", "-f", "sleep 30"], check=False)  # the orphaned stage
    assert _entries(root) == []
    plan = json.loads(lockgate("plan", "--json", cwd=root).stdout)
    assert [row["status"] for row in plan] == ["run"]


NONDETERMINISTIC = """\
version: 1
name: stamp
image: {base: lockgate/debian:bookworm}
stages:
  stamp:
    run: [sh, -c, 'date +%s%N > "$LOCKGATE_OUT/stamp.txt"']
"""


def test_no_cache_rerun_replaces_the_entry_and_the_export(tmp_path):
    """`--no-cache` re-runs the stage; the cache entry and --export-dir then hold the new
    outputs, not the first run's (the record, the cache and the export agree)."""
    root = write_project(tmp_path / "p", NONDETERMINISTIC)
    export = tmp_path / "export"
    run = ("run", "--executor", "local", "--export-dir", str(export))
    assert lockgate(*run, cwd=root).code == 0
    first = (export / "stamp" / "stamp.txt").read_text()
    again = lockgate(*run, "--no-cache", cwd=root)
    assert again.code == 0, again.stderr
    stage = last_record(root)["stages"][0]
    assert stage["state"] == "ok"
    cached = Path(stage["out"]) / "stamp.txt"
    exported = (export / "stamp" / "stamp.txt").read_text()
    assert exported != first
    assert cached.read_text() == exported
    entries = [p for p in (root / ".lockgate" / "cache").iterdir()]
    assert [p.name for p in entries] == [stage["cache_key"]]  # no leftovers beside the entry
    assert (
        json.loads((entries[0] / "entry.json").read_text())["outputs_digest"]
        == stage["outputs_digest"]
    )
