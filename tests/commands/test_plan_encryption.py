"""``lockgate plan`` judges a cache entry by the rule a run applies: with ``encryption:`` turned on
a plaintext entry is no hit, and an entry sealed with another key (or sealed while lockgate.yaml
now sets no ``encryption:``) makes the run fail the stage, with the words plan shows. Each case
through the real CLI and the local executor: plan first, then the run it predicts."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.projects import last_record, lockgate, write_project

KEY = "6c6f636b676174652d706c616e2d746573742d6b65792d333262797465732121"  # 32 bytes, hex
PLAIN = """\
version: 1
name: planned
image: {base: lockgate/debian:bookworm}
secrets:
  data-key: {file: data.key}
stages:
  make: {run: [sh, -c, 'echo rows > "$LOCKGATE_OUT/data.txt"']}
  read: {run: [sh, -c, 'cat "$LOCKGATE_IN/make/data.txt" > "$LOCKGATE_OUT/copy.txt"'], needs: [make]}
"""
SEALED = PLAIN.replace("stages:\n", "encryption: {key: data-key}\nstages:\n")
# what the run does with a stage that plan gives each status
DOES = {"cached": "cached", "run": "ok", "run (upstream runs)": "ok", "fails": "failed"}
DOES["skipped"] = "skipped"


def _plan(root: Path) -> list[dict]:
    result = lockgate("plan", "--json", cwd=root)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def _plan_then_run(root: Path) -> tuple[list[dict], dict[str, dict]]:
    """Plan's rows, then what the run did with each stage (its record's entries)."""
    rows = _plan(root)
    lockgate("run", "--executor", "local", cwd=root)
    done = {s["name"]: s for s in last_record(root)["stages"]}
    assert {r["stage"]: DOES[r["status"]] for r in rows} == {n: s["state"] for n, s in done.items()}
    return rows, done


def test_plaintext_entries_are_no_hits_once_encryption_is_on(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", PLAIN, {"data.key": KEY + "\n"})
    assert lockgate("run", "--executor", "local", cwd=root).code == 0
    (root / "lockgate.yaml").write_text(SEALED)
    text = lockgate("plan", cwd=root)
    assert text.stdout.strip().endswith("2 to run, 0 cached"), text.stdout
    assert "its cache entry is plaintext, from before `encryption:`" in text.stdout
    rows, _ = _plan_then_run(root)
    assert [r["status"] for r in rows] == ["run", "run (upstream runs)"]
    rows, _ = _plan_then_run(root)  # the sealed entries the run stored are hits
    assert [r["status"] for r in rows] == ["cached", "cached"]


def test_entries_sealed_with_another_key_fail_in_plan_as_in_the_run(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", SEALED, {"data.key": KEY + "\n"})
    assert lockgate("run", "--executor", "local", cwd=root).code == 0
    (root / "data.key").write_text(os.urandom(32).hex())
    text = lockgate("plan", cwd=root)
    assert text.stdout.strip().endswith("0 to run, 0 cached, 1 fails, 1 skipped"), text.stdout
    rows, done = _plan_then_run(root)
    assert [r["status"] for r in rows] == ["fails", "skipped"]
    assert "is sealed with key" in rows[0]["reason"]
    assert "but the configured key is" in rows[0]["reason"]
    assert [r["reason"] for r in rows] == [done["make"]["reason"], done["read"]["reason"]]
    (root / "lockgate.yaml").write_text(PLAIN)  # encryption taken off: the entry is refused too
    rows, done = _plan_then_run(root)
    assert [r["status"] for r in rows] == ["fails", "skipped"]
    assert "but lockgate.yaml sets no `encryption:`" in rows[0]["reason"]
    assert rows[0]["reason"] == done["make"]["reason"]


def test_plan_says_a_stage_fails_when_its_upstream_cannot_be_taken_under_only(
    tmp_path: Path,
) -> None:
    """--only takes the upstream from the cache: plan judges that entry as the run does."""
    root = write_project(tmp_path / "p", PLAIN, {"data.key": KEY + "\n"})
    assert lockgate("run", "--executor", "local", cwd=root).code == 0
    (root / "lockgate.yaml").write_text(SEALED)  # encryption on: the plaintext entry is not read
    result = lockgate("plan", "--json", "--stage", "read", "--only", cwd=root)
    assert result.code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["status"] == "fails"
    assert "was written before `encryption:` was set" in row["reason"]
    ran = lockgate("run", "--executor", "local", "--stage", "read", "--only", cwd=root)
    assert ran.code != 0
    (done,) = last_record(root)["stages"]
    assert (done["name"], done["state"], done["reason"]) == ("read", "failed", row["reason"])
